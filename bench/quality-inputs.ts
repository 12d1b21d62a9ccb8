// Inputs for bench:quality's scaling half: N search items (48×48 samples, window and mirror hashes, embeddings)
// made from the demo's own face samples without rendering, so the search meets the hash and layout statistics of
// real generated faces rather than made-up bit strings.
//
// Each generated image is a new face: two base samples picked at random, each under its own small affine warp
// (shift ±3 px, scale 0.92–1.08 per axis, a little shear), mixed with a random weight (the first 55–80 %), then
// brightness/contrast jitter and pixel noise. Two images share their main base about once in 2,300 pairs and their
// base pair almost never, so growing the set adds new faces at a steady density — as a real dataset grows —
// rather than ever more variants of a fixed few thousand (an earlier version did that: at 40,000 every base had
// ~17 look-alike variants, half the candidates were such variants, and the verification per image grew with n).
// Scale differs per axis on purpose: registration undoes position and one scale (alignment.ts), so look-alikes
// stay distinguishable by their proportions, as two drawn faces are. About 2 % are planted near-copies of an
// earlier generated image (blur as a JPEG round trip does, crop, shift, brightness), the truth kept. Hashes are
// computed exactly as stages/quality/worker.ts does.
//
// Embeddings are stand-ins (the real ones need mobileface on every image): each base gets a random unit 256-d
// vector; an image's is the same mix of its two bases' vectors plus gaussian noise σ 0.05 a dimension,
// renormalised (cosine ≈ 0.4 between two images sharing their main base, below the stage's default minCosine
// 0.6, as two people's are; ≈ 0 otherwise); a planted copy is its original's vector plus σ 0.01 (cosine ≈ 0.97).
import { bilinear, faceSample, hashWindows, SAMPLE_SIDE, windowOf } from '../datasets/near-duplicates/alignment.js';
import { hamming, perceptualHash } from '../datasets/near-duplicates/perceptual-hash.js';
import { decodeFaceImage } from '../ml/human/face-image.js';
import { seededRandom, type Rng } from '../lib/random.js';
import type { SearchItem } from '../stages/quality/search.js';

export const EMBEDDING_DIM = 256;
const PLANTED = 0.02;
const S = SAMPLE_SIDE;

export interface GeneratedItems {
  items: SearchItem[];
  /** Per item: its main base sample (a planted copy: its original's). */
  baseOf: Int32Array;
  /** Planted near-copies: [original, copy] with original < copy. */
  planted: Array<[number, number]>;
}

/** The 48×48 gray sample of each encoded image, as the quality stage's worker reduces it. */
export async function samplesOf(images: Iterable<Uint8Array>): Promise<Uint8Array[]> {
  const samples: Uint8Array[] = [];
  for (const bytes of images) {
    const image = await decodeFaceImage(bytes);
    samples.push(faceSample(image.pixels, image.width, image.height, image.channels));
  }
  return samples;
}

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

const uniform = (rng: Rng, lo: number, hi: number) => lo + (hi - lo) * rng();
const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));

/** Bilinear sample of a 48×48 sample; edge pixels repeat outside, as the generator's shift edit does. */
const at = (sample: Uint8Array, x: number, y: number): number => bilinear(sample, S, S, x, y);

/** out(x, y) = sample(A·(p − c) + c + shift): `a`, `b`, `c`, `d` the inverse map's matrix, about the centre. */
function affine(sample: Uint8Array, [a, b, c, d]: number[], dx: number, dy: number): Float32Array {
  const out = new Float32Array(S * S);
  const mid = (S - 1) / 2;
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const u = x - mid;
      const v = y - mid;
      out[y * S + x] = at(sample, a! * u + b! * v + mid + dx, c! * u + d! * v + mid + dy);
    }
  return out;
}

/** `base` under its own proportions and position. */
function warped(rng: Rng, base: Uint8Array): Float32Array {
  const sx = uniform(rng, 0.92, 1.08);
  const sy = uniform(rng, 0.92, 1.08);
  const shear = uniform(rng, -0.04, 0.04);
  return affine(base, [1 / sx, shear, shear, 1 / sy], uniform(rng, -3, 3), uniform(rng, -3, 3));
}

/** A new face: `weight` of one warped base and the rest of another, with its own light and noise. */
function newFace(rng: Rng, main: Uint8Array, other: Uint8Array, weight: number): Uint8Array {
  const first = warped(rng, main);
  const second = warped(rng, other);
  const mixed = first.map((v, p) => weight * v + (1 - weight) * second[p]!);
  const contrast = uniform(rng, 0.85, 1.15);
  const brightness = uniform(rng, -15, 15);
  let mean = 0;
  for (const v of mixed) mean += v;
  mean /= mixed.length;
  return Uint8Array.from(mixed, (v) => clamp((v - mean) * contrast + mean + brightness + 4 * gaussian(rng)));
}

/** A near-copy of `original` by one of four edits, as the generator's near-duplicates are made. */
function nearCopy(rng: Rng, original: Uint8Array, edit: number): Uint8Array {
  if (edit === 0) {
    // A JPEG round trip at low quality mostly loses fine detail: a 3×3 binomial blur plus a little noise.
    const kernel = [1, 2, 1];
    const out = new Uint8Array(S * S);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        let sum = 0;
        for (let j = -1; j <= 1; j++)
          for (let i = -1; i <= 1; i++) sum += kernel[i + 1]! * kernel[j + 1]! * at(original, x + i, y + j);
        out[y * S + x] = clamp(sum / 16 + 1.5 * gaussian(rng));
      }
    return out;
  }
  if (edit === 1) {
    // A window 5–10 % smaller, anywhere inside, scaled back up.
    const scale = uniform(rng, 0.9, 0.95);
    const room = ((1 - scale) * S) / 2;
    return Uint8Array.from(
      affine(original, [scale, 0, 0, scale], uniform(rng, -room, room), uniform(rng, -room, room)),
      clamp,
    );
  }
  if (edit === 2) {
    // Moved 3–6 % of the side in one of eight directions.
    const by = uniform(rng, 0.03, 0.06) * S;
    const angle = (Math.floor(rng() * 8) * Math.PI) / 4;
    return Uint8Array.from(affine(original, [1, 0, 0, 1], by * Math.cos(angle), by * Math.sin(angle)), clamp);
  }
  const factor = 1 + (rng() < 0.5 ? -1 : 1) * uniform(rng, 0.1, 0.25);
  return Uint8Array.from(original, (v) => clamp(v * factor));
}

/** The hashes the quality worker computes for a sample: whole and windows, then the whole mirror image. */
export function hashesOf(sample: Uint8Array): Pick<SearchItem, 'hashes' | 'flippedHash'> {
  return {
    hashes: hashWindows(sample).map((thumb) => perceptualHash(thumb)),
    flippedHash: perceptualHash(windowOf(sample, [0, 0, 1, 1], 32, true)),
  };
}

/** `centre` plus gaussian noise σ `sigma` a dimension, renormalised. */
function unitNoisy(rng: Rng, centre: Float32Array, sigma: number): Float32Array {
  const out = new Float32Array(centre.length);
  let norm = 0;
  for (let d = 0; d < out.length; d++) {
    out[d] = centre[d]! + sigma * gaussian(rng);
    norm += out[d]! ** 2;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let d = 0; d < out.length; d++) out[d]! *= scale;
  return out;
}

/**
 * `size` search items from the base samples, deterministic for a seed. A prefix of the result is what a smaller
 * `size` would give (each item draws from its own stream), so one generation serves every size measured.
 */
export function generateItems(bases: readonly Uint8Array[], size: number, seed = 1): GeneratedItems {
  const baseVectors = bases.map((_, b) =>
    unitNoisy(seededRandom(seed, 'quality-bench base', String(b)), new Float32Array(EMBEDDING_DIM), 1),
  );
  const items: SearchItem[] = [];
  const baseOf = new Int32Array(size);
  const planted: Array<[number, number]> = [];
  for (let n = 0; n < size; n++) {
    const rng = seededRandom(seed, 'quality-bench item', String(n));
    let sample: Uint8Array;
    let embedding: Float32Array;
    if (n > 0 && rng() < PLANTED) {
      const original = Math.floor(rng() * n);
      sample = nearCopy(rng, items[original]!.sample, planted.length % 4);
      embedding = unitNoisy(rng, items[original]!.embedding!, 0.01);
      baseOf[n] = baseOf[original]!;
      planted.push([original, n]);
    } else {
      const base = Math.floor(rng() * bases.length);
      const other = (base + 1 + Math.floor(rng() * (bases.length - 1))) % bases.length;
      const weight = uniform(rng, 0.55, 0.8);
      sample = newFace(rng, bases[base]!, bases[other]!, weight);
      const mixed = baseVectors[base]!.map((v, d) => weight * v + (1 - weight) * baseVectors[other]![d]!);
      embedding = unitNoisy(rng, mixed, 0.05);
      baseOf[n] = base;
    }
    items.push({ ...hashesOf(sample), sample, embedding });
  }
  return { items, baseOf, planted };
}

/** The fewest bits between one item's whole hash (or its mirror's) and any window hash of the other, both ways. */
export function nearestBits(a: SearchItem, b: SearchItem): number {
  let best = 64;
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const)
    for (const whole of [x.hashes[0]!, x.flippedHash])
      for (const hash of y.hashes) best = Math.min(best, hamming(whole, hash));
  return best;
}

/**
 * Why the hash side proposes so many pairs: for each radius, the share of the planted pairs whose nearest bits
 * (as search.ts looks them up: whole or mirror against 27 windows, both ways) are within it, against the share of
 * `samples` random distinct pairs, and of the whole hashes alone.
 */
export function radiusTable(
  items: readonly SearchItem[],
  truth: ReadonlyArray<[number, number]>,
  samples = 100000,
): string[] {
  const rng = seededRandom(1, 'quality-bench radius');
  const truthKeys = new Set(truth.map(([a, b]) => Math.min(a, b) * items.length + Math.max(a, b)));
  const truthBits = truth.map(([a, b]) => nearestBits(items[a]!, items[b]!));
  const randomBits: number[] = [];
  const wholeBits: number[] = [];
  while (randomBits.length < samples) {
    const a = Math.floor(rng() * items.length);
    const b = Math.floor(rng() * items.length);
    if (a === b || truthKeys.has(Math.min(a, b) * items.length + Math.max(a, b))) continue;
    randomBits.push(nearestBits(items[a]!, items[b]!));
    wholeBits.push(hamming(items[a]!.hashes[0]!, items[b]!.hashes[0]!));
  }
  const within = (bits: number[], r: number) => bits.filter((d) => d <= r).length / bits.length;
  return [4, 6, 8, 10, 12].map(
    (r) =>
      `radius ${r}: planted pairs within ${within(truthBits, r).toFixed(3)}; random distinct pairs within ` +
      `${(100 * within(randomBits, r)).toFixed(3)} % (whole hashes alone ${(100 * within(wholeBits, r)).toFixed(3)} %)`,
  );
}
