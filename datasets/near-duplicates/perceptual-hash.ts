// The DCT perceptual hash (pHash) of a face crop, for near-duplicate search.
//
// Method (Zauner, "Implementation and Benchmarking of Perceptual Image Hash Functions", 2010; phash.org): reduce the
// image to a small gray thumbnail, take its 2-D DCT-II, keep 64 low-frequency coefficients and set one bit per
// coefficient that lies above their median. Low frequencies survive resizing, JPEG re-encoding, small crops and
// shifts; the median threshold makes exactly half the bits 1, so two unrelated images differ in about 32 bits.
//
// Choices made here, and why:
// - The thumbnail is an area average of the luma (BT.601 weights), not a point sample: every source pixel counts
//   once, so the 48×48 gray and the 224×224 colour copy of one photograph give nearly the same thumbnail.
// - The thumbnail is normalised (mean 0, standard deviation 1) before the DCT. The DCT is linear and the median
//   threshold ignores a positive scale, so this makes the hash blind to brightness and contrast (until clipping).
// - The DC term is left out: after normalisation it is always 0 and would be a bit decided by noise. The 64 bits
//   are the 64 lowest-frequency AC coefficients, ordered by u + v (then by u): the 44 of the first eight
//   anti-diagonals (all inside the top-left 9×9 block), then 20 of the next two. These are the most stable
//   coefficients; the classic choice (rows and columns 1..8) drops the pure horizontal and vertical frequencies,
//   which carry much of a face (the eyes' line, the light from one side).
// - Bit k of the bigint (counting from the least significant bit) is the k-th coefficient in that order.
// - Arithmetic is in float64 JavaScript numbers, so a hash is the same on every machine.

/** BT.601 luma weights, as JPEG and most image libraries use for "gray". */
const LUMA_RED = 0.299;
const LUMA_GREEN = 0.587;
const LUMA_BLUE = 0.114;
const HASH_BITS = 64;

/** For each output cell along one axis: the source indexes it covers and the share of each, summing to 1. */
interface AxisWeights {
  readonly starts: Int32Array;
  readonly counts: Int32Array;
  readonly weights: Float64Array; // counts[i] entries from offsets[i]
  readonly offsets: Int32Array;
}

/** Area weights to resize `source` cells to `target` cells: output i covers [i·s/t, (i+1)·s/t) of the source. */
function axisWeights(source: number, target: number): AxisWeights {
  const starts = new Int32Array(target);
  const counts = new Int32Array(target);
  const offsets = new Int32Array(target);
  const all: number[] = [];
  const scale = source / target;
  for (let i = 0; i < target; i++) {
    const from = i * scale;
    const to = (i + 1) * scale;
    const first = Math.floor(from);
    const last = Math.min(source - 1, Math.ceil(to) - 1);
    starts[i] = first;
    counts[i] = last - first + 1;
    offsets[i] = all.length;
    for (let s = first; s <= last; s++) {
      const overlap = Math.min(to, s + 1) - Math.max(from, s);
      all.push(overlap / scale);
    }
  }
  return { starts, counts, offsets, weights: Float64Array.from(all) };
}

/**
 * The luma of an 8-bit image (`channels` 1 gray, 3 RGB, 4 RGBA with alpha ignored; rows top to bottom, pixels
 * interleaved) resized to `side`×`side` by area averaging. Values stay on the 0..255 scale; `perceptualHash` and
 * `thumbnailCorrelation` normalise them.
 */
export function grayThumbnail(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  side = 32,
): Float32Array {
  if (pixels.length < width * height * channels) {
    throw new Error(`grayThumbnail: ${pixels.length} bytes for a ${width}×${height}×${channels} image`);
  }
  const across = axisWeights(width, side);
  const down = axisWeights(height, side);
  // Horizontal pass first, one source row at a time: rows[y·side + x] is row y averaged into column x.
  const rows = new Float64Array(height * side);
  const luma = new Float64Array(width);
  for (let y = 0; y < height; y++) {
    const rowStart = y * width * channels;
    if (channels === 1) {
      for (let x = 0; x < width; x++) luma[x] = pixels[rowStart + x]!;
    } else {
      for (let x = 0, p = rowStart; x < width; x++, p += channels) {
        luma[x] = LUMA_RED * pixels[p]! + LUMA_GREEN * pixels[p + 1]! + LUMA_BLUE * pixels[p + 2]!;
      }
    }
    for (let x = 0; x < side; x++) {
      let sum = 0;
      const start = across.starts[x]!;
      const offset = across.offsets[x]!;
      for (let k = 0; k < across.counts[x]!; k++) sum += across.weights[offset + k]! * luma[start + k]!;
      rows[y * side + x] = sum;
    }
  }
  const thumb = new Float32Array(side * side);
  for (let y = 0; y < side; y++) {
    const start = down.starts[y]!;
    const offset = down.offsets[y]!;
    for (let x = 0; x < side; x++) {
      let sum = 0;
      for (let k = 0; k < down.counts[y]!; k++) sum += down.weights[offset + k]! * rows[(start + k) * side + x]!;
      thumb[y * side + x] = sum;
    }
  }
  return thumb;
}

/** The thumbnail mirrored left to right, to hash the flipped photograph too. */
export function flipThumbnail(thumb: Float32Array, side = 32): Float32Array {
  const flipped = new Float32Array(thumb.length);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) flipped[y * side + x] = thumb[y * side + side - 1 - x]!;
  }
  return flipped;
}

/** The values minus their mean, divided by their standard deviation (all zeros for a flat image). */
function normalised(thumb: Float32Array): Float64Array {
  let sum = 0;
  for (let i = 0; i < thumb.length; i++) sum += thumb[i]!;
  const mean = sum / thumb.length;
  let squares = 0;
  for (let i = 0; i < thumb.length; i++) squares += (thumb[i]! - mean) ** 2;
  const std = Math.sqrt(squares / thumb.length);
  const out = new Float64Array(thumb.length);
  if (std < 1e-9) return out;
  for (let i = 0; i < thumb.length; i++) out[i] = (thumb[i]! - mean) / std;
  return out;
}

/** The (u, v) frequencies the hash keeps, lowest first: ordered by u + v, then u; the DC term left out. */
function hashFrequencies(side: number): { u: Int32Array; v: Int32Array; rows: number } {
  const pairs: [number, number][] = [];
  for (let sum = 1; pairs.length < HASH_BITS; sum++) {
    for (let u = 0; u <= sum && pairs.length < HASH_BITS; u++) {
      const v = sum - u;
      if (u < side && v < side) pairs.push([u, v]);
    }
  }
  const rows = Math.max(...pairs.map(([u, v]) => Math.max(u, v))) + 1;
  return { u: Int32Array.from(pairs, (p) => p[0]), v: Int32Array.from(pairs, (p) => p[1]), rows };
}

interface DctPlan {
  /** The first `rows` rows of the orthonormal DCT-II matrix: basis[k·side + n] = α(k)·cos(π(2n+1)k / 2·side). */
  readonly basis: Float64Array;
  readonly rows: number;
  readonly u: Int32Array;
  readonly v: Int32Array;
}

/** One plan per thumbnail side, computed once: the cosines are the costly part of a naive DCT. */
const plans = new Map<number, DctPlan>();

function dctPlan(side: number): DctPlan {
  let plan = plans.get(side);
  if (plan) return plan;
  if (!Number.isInteger(side) || side < 11) throw new Error(`perceptualHash: side must be an integer ≥ 11 (${side})`);
  const { u, v, rows } = hashFrequencies(side);
  const basis = new Float64Array(rows * side);
  for (let k = 0; k < rows; k++) {
    const alpha = k === 0 ? Math.sqrt(1 / side) : Math.sqrt(2 / side);
    for (let n = 0; n < side; n++) basis[k * side + n] = alpha * Math.cos((Math.PI * (2 * n + 1) * k) / (2 * side));
  }
  plan = { basis, rows, u, v };
  plans.set(side, plan);
  return plan;
}

/** The 64-bit DCT perceptual hash of a `side`×`side` gray thumbnail (from `grayThumbnail`). */
export function perceptualHash(thumb: Float32Array, side = 32): bigint {
  if (thumb.length !== side * side) throw new Error(`perceptualHash: ${thumb.length} values for side ${side}`);
  const { basis, rows, u, v } = dctPlan(side);
  const gray = normalised(thumb);
  // Only the low frequencies are needed: first the column transform (rows × side), then the row transform.
  const columns = new Float64Array(rows * side);
  for (let k = 0; k < rows; k++) {
    for (let x = 0; x < side; x++) {
      let sum = 0;
      for (let y = 0; y < side; y++) sum += basis[k * side + y]! * gray[y * side + x]!;
      columns[k * side + x] = sum;
    }
  }
  const coefficients = new Float64Array(HASH_BITS);
  for (let i = 0; i < HASH_BITS; i++) {
    const row = u[i]! * side;
    const frequency = v[i]! * side;
    let sum = 0;
    for (let x = 0; x < side; x++) sum += columns[row + x]! * basis[frequency + x]!;
    coefficients[i] = sum;
  }
  const sorted = Float64Array.from(coefficients).sort();
  const median = (sorted[HASH_BITS / 2 - 1]! + sorted[HASH_BITS / 2]!) / 2;
  let low = 0;
  let high = 0;
  for (let i = 0; i < 32; i++) if (coefficients[i]! > median) low |= 1 << i;
  for (let i = 0; i < 32; i++) if (coefficients[32 + i]! > median) high |= 1 << i;
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}

/** The number of 1 bits of a 32-bit integer (SWAR popcount, no loop over bits). */
export function popcount32(value: number): number {
  let x = value - ((value >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** The number of bits in which two 64-bit hashes differ. */
export function hamming(a: bigint, b: bigint): number {
  const difference = BigInt.asUintN(64, a ^ b);
  return popcount32(Number(difference & 0xffffffffn)) + popcount32(Number(difference >> 32n));
}

/**
 * The Pearson correlation of two thumbnails of the same size, in [-1, 1]: a verification score for a candidate
 * pair (a re-encoded copy scores above 0.95; look-alike faces much lower). A flat thumbnail correlates 0.
 */
export function thumbnailCorrelation(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`thumbnailCorrelation: ${a.length} vs ${b.length} values`);
  const x = normalised(a);
  const y = normalised(b);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * y[i]!;
  return sum / x.length;
}
