// The near-duplicate search library (datasets/near-duplicates/): the perceptual hash against the transformations a
// merged FER dataset holds copies under (resized, gray, JPEG 30, brighter, shifted, cropped, mirrored), multi-index
// hashing against a linear scan, the HNSW index against exact search, and the clustering of pairs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { clustersFromPairs, verifiedDuplicates } from '../datasets/near-duplicates/clusters.js';
import { chunksFor, HashIndex } from '../datasets/near-duplicates/hash-index.js';
import {
  flipThumbnail,
  grayThumbnail,
  hamming,
  perceptualHash,
  thumbnailCorrelation,
} from '../datasets/near-duplicates/perceptual-hash.js';
import { VectorIndex } from '../datasets/near-duplicates/vector-index.js';
import { seededRandom, shuffle, type Rng } from '../lib/random.js';

/**
 * The Hamming radius recommended for pHash near-duplicate candidates: the largest distance measured below for a
 * copy the hash should catch (crop 6 %: up to 12 bits on these faces). Look-alike faces also fall inside it now
 * and then, so candidates are verified (thumbnail correlation, embedding cosine) before they count.
 */
const RADIUS = 12;

interface Raster {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** 1 inside an ellipse-shaped region (`d` < 1, d its normalised radius), 0 outside, with a soft edge. */
function soft(d: number, edge: number): number {
  return 1 / (1 + Math.exp((d - 1) / edge));
}

/**
 * A face-like colour picture with soft edges, as a camera gives: a lit background, hair, a skin oval whose
 * brightness differs from the background, eyes, brows, a nose shadow and a mouth at jittered places, and a few
 * smooth blobs of light. Different seeds give look-alike but different faces.
 */
function syntheticFace(seed: number, size = 224): Raster {
  const rng = seededRandom(seed, 'near-duplicates-face');
  const between = (low: number, high: number): number => low + (high - low) * rng();
  const background = Array.from({ length: 3 }, () => between(30, 220));
  const lighter = rng() < 0.5 ? 1 : -1;
  const skin = background.map((v) => Math.max(20, Math.min(235, v + lighter * between(50, 90))));
  const hair = Array.from({ length: 3 }, () => between(10, 90));
  const light = { x: between(-1, 1), y: between(-1, 1) };
  const face = { x: between(-0.08, 0.08), y: between(-0.05, 0.1), rx: between(0.5, 0.68), ry: between(0.65, 0.85) };
  const hairTop = between(0.2, 0.45);
  const eye = { y: between(-0.28, -0.08), gap: between(0.2, 0.34), size: between(0.08, 0.13) };
  const mouth = { y: between(0.3, 0.5), w: between(0.15, 0.32), h: between(0.05, 0.12) };
  const blobs = Array.from({ length: 4 }, () => ({ x: between(-1, 1), y: between(-1, 1), r: between(0.2, 0.6) }));
  const blobLight = blobs.map(() => between(-0.3, 0.3));
  const pixels = new Uint8Array(size * size * 3);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const x = (2 * px) / size - 1;
      const y = (2 * py) / size - 1;
      const fx = x - face.x;
      const fy = y - face.y;
      const inFace = soft(Math.hypot(fx / face.rx, fy / face.ry), 0.04);
      const inHair = soft(Math.hypot(fx / (face.rx * 1.1), (fy + face.ry * 0.55) / (face.ry * hairTop + 0.2)), 0.05);
      let features = 1;
      for (const side of [-1, 1]) {
        features -= 0.7 * soft(Math.hypot((fx - side * eye.gap) / eye.size, (fy - eye.y) / (eye.size * 0.6)), 0.12);
        const brow = Math.hypot((fx - side * eye.gap) / (eye.size * 1.4), (fy - eye.y + eye.size * 1.5) / 0.03);
        features -= 0.4 * soft(brow, 0.15);
      }
      features -= 0.25 * soft(Math.hypot(fx / 0.06, (fy - (eye.y + mouth.y) / 2) / 0.12), 0.2);
      features -= 0.5 * soft(Math.hypot(fx / mouth.w, (fy - mouth.y) / mouth.h), 0.12);
      let shade = 1 + 0.3 * (light.x * x + light.y * y);
      blobs.forEach(
        (blob, b) => (shade += blobLight[b]! * Math.exp(-((x - blob.x) ** 2 + (y - blob.y) ** 2) / blob.r ** 2)),
      );
      for (let c = 0; c < 3; c++) {
        const skinTone = skin[c]! * Math.max(0, features);
        const faceOrBackground = inFace * skinTone + (1 - inFace) * background[c]!;
        const value = inHair * (1 - inFace * 0.85) * hair[c]! + (1 - inHair * (1 - inFace * 0.85)) * faceOrBackground;
        pixels[(py * size + px) * 3 + c] = Math.max(0, Math.min(255, Math.round(value * shade)));
      }
    }
  }
  return { pixels, width: size, height: size, channels: 3 };
}

async function viaSharp(image: Raster, edit: (s: sharp.Sharp) => sharp.Sharp): Promise<Raster> {
  const input = sharp(Buffer.from(image.pixels), {
    raw: { width: image.width, height: image.height, channels: image.channels },
  });
  const { data, info } = await edit(input).raw().toBuffer({ resolveWithObject: true });
  return { pixels: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels as 1 | 3 };
}

/** A JPEG round trip at `quality`, as a re-saved copy would have gone through. */
async function reencoded(image: Raster, quality: number): Promise<Raster> {
  const input = sharp(Buffer.from(image.pixels), {
    raw: { width: image.width, height: image.height, channels: image.channels },
  });
  const jpeg = await input.jpeg({ quality }).toBuffer();
  return sharpRaw(jpeg);
}

async function sharpRaw(encoded: Buffer): Promise<Raster> {
  const { data, info } = await sharp(encoded).raw().toBuffer({ resolveWithObject: true });
  return { pixels: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels as 1 | 3 };
}

function brighter(image: Raster, factor: number): Raster {
  const pixels = image.pixels.map((v) => Math.min(255, Math.round(v * factor)));
  return { ...image, pixels };
}

/** Moved right and down by `by` pixels, the uncovered edge filled by repeating the first row and column. */
function shifted(image: Raster, by: number): Raster {
  const { width, height, channels } = image;
  const pixels = new Uint8Array(image.pixels.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (Math.max(0, y - by) * width + Math.max(0, x - by)) * channels;
      for (let c = 0; c < channels; c++) pixels[(y * width + x) * channels + c] = image.pixels[from + c]!;
    }
  }
  return { ...image, pixels };
}

/** The central part after cutting `fraction` of the width and height away (half on each side). */
function cropped(image: Raster, fraction: number): Promise<Raster> {
  const left = Math.round((image.width * fraction) / 2);
  const top = Math.round((image.height * fraction) / 2);
  return viaSharp(image, (s) =>
    s.extract({ left, top, width: image.width - 2 * left, height: image.height - 2 * top }),
  );
}

const toGray48 = (image: Raster): Promise<Raster> => viaSharp(image, (s) => s.resize(48, 48).greyscale());
const thumbOf = (image: Raster): Float32Array => grayThumbnail(image.pixels, image.width, image.height, image.channels);
const hashOf = (image: Raster): bigint => perceptualHash(thumbOf(image));

/** Each transformation of an original, named as the measurements table names it. */
const TRANSFORMS: Record<string, (image: Raster) => Promise<Raster>> = {
  'gray 48×48': toGray48,
  'jpeg 30': (image) => reencoded(image, 30),
  'gray 48×48 + jpeg 30': async (image) => reencoded(await toGray48(image), 30),
  'brightness +20 %': async (image) => brighter(image, 1.2),
  'brightness −20 %': async (image) => brighter(image, 0.8),
  'shift 2 px at 224': async (image) => shifted(image, 2),
  'shift 1 px at 48 (partly beyond the hash)': async (image) => shifted(await toGray48(image), 1),
  'shift 2 px at 48 (beyond the hash)': async (image) => shifted(await toGray48(image), 2),
  'crop 6 %': (image) => cropped(image, 0.06),
  'crop 6 % + gray 48 + jpeg 30': async (image) => reencoded(await toGray48(await cropped(image, 0.06)), 30),
  'mirrored (flipped hash)': (image) => viaSharp(image, (s) => s.flop()),
};

const FACES = 24;
const UNRELATED_FACES = 80;

test('a transformed copy hashes within the radius; unrelated look-alike faces do not', async (t) => {
  const faces = Array.from({ length: FACES }, (_, seed) => syntheticFace(seed + 1));
  const hashes = faces.map(hashOf);
  const thumbs = faces.map(thumbOf);
  const worst: Record<string, number> = {};
  for (const [name, transform] of Object.entries(TRANSFORMS)) {
    const distances: number[] = [];
    const correlations: number[] = [];
    for (let f = 0; f < FACES; f++) {
      const copy = await transform(faces[f]!);
      const thumb = name.startsWith('mirrored') ? flipThumbnail(thumbOf(copy)) : thumbOf(copy);
      distances.push(hamming(hashes[f]!, perceptualHash(thumb)));
      correlations.push(thumbnailCorrelation(thumbs[f]!, thumb));
    }
    worst[name] = Math.max(...distances);
    t.diagnostic(
      `${name}: hamming max ${Math.max(...distances)}, mean ${(distances.reduce((a, b) => a + b) / FACES).toFixed(1)}` +
        `; correlation min ${Math.min(...correlations).toFixed(3)}`,
    );
  }
  const others = Array.from({ length: UNRELATED_FACES }, (_, seed) => syntheticFace(1000 + seed, 112));
  const otherThumbs = others.map(thumbOf);
  const otherHashes = otherThumbs.map((thumb) => perceptualHash(thumb));
  const unrelated: number[] = [];
  const unrelatedCorrelation: number[] = [];
  for (let a = 0; a < UNRELATED_FACES; a++) {
    for (let b = a + 1; b < UNRELATED_FACES; b++) {
      unrelated.push(hamming(otherHashes[a]!, otherHashes[b]!));
      unrelatedCorrelation.push(thumbnailCorrelation(otherThumbs[a]!, otherThumbs[b]!));
    }
  }
  const sortedUnrelated = [...unrelated].sort((a, b) => a - b);
  t.diagnostic(`unrelated: the 10 smallest distances ${sortedUnrelated.slice(0, 10).join(' ')} of ${unrelated.length}`);
  t.diagnostic(
    `unrelated look-alike faces: hamming min ${Math.min(...unrelated)}, ` +
      `mean ${(unrelated.reduce((a, b) => a + b) / unrelated.length).toFixed(1)}; ` +
      `correlation max ${Math.max(...unrelatedCorrelation).toFixed(3)}`,
  );
  assert.ok(worst['jpeg 30']! <= 4, `a JPEG-30 copy moved ${worst['jpeg 30']} bits`);
  assert.ok(
    worst['gray 48×48 + jpeg 30']! <= RADIUS,
    `a 48×48 gray JPEG-30 copy moved ${worst['gray 48×48 + jpeg 30']}`,
  );
  for (const [name, distance] of Object.entries(worst)) {
    if (!name.includes('beyond')) assert.ok(distance <= RADIUS, `${name}: ${distance} bits`);
  }
  const close = unrelated.filter((distance) => distance <= RADIUS).length / unrelated.length;
  t.diagnostic(`unrelated pairs within ${RADIUS} bits: ${(100 * close).toFixed(2)} %`);
  assert.ok(close < 0.03, `${(100 * close).toFixed(2)} % of unrelated pairs within the radius`);
});

test('a brightness change moves no more than a few bits', async () => {
  let moved = 0;
  for (let seed = 1; seed <= FACES; seed++) {
    const face = syntheticFace(seed);
    const original = hashOf(face);
    // Darker is affine (nothing clips), so it moves nearly nothing; brighter clips the light parts at 255.
    const up = hamming(original, hashOf(brighter(face, 1.2)));
    const down = hamming(original, hashOf(brighter(face, 0.8)));
    assert.ok(up <= RADIUS && down <= 2, `brighter ${up}, darker ${down} bits`);
    moved += up;
  }
  assert.ok(moved / FACES <= 4, `brighter moved ${moved / FACES} bits on average`);
  // Without clipping, a brightness and contrast change is affine, which the normalisation removes entirely.
  const smooth = syntheticFace(99);
  const scaled = { ...smooth, pixels: smooth.pixels.map((v) => Math.round(10 + v * 0.9)) };
  assert.ok(hamming(hashOf(smooth), hashOf(scaled)) <= 2);
});

test('the thumbnail is an area average, the same for a gray and a colour copy of one picture', () => {
  const colour = syntheticFace(5, 96);
  const gray = new Uint8Array(96 * 96);
  for (let i = 0; i < gray.length; i++) {
    const [r, g, b] = [colour.pixels[3 * i]!, colour.pixels[3 * i + 1]!, colour.pixels[3 * i + 2]!];
    gray[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  const a = grayThumbnail(colour.pixels, 96, 96, 3);
  const b = grayThumbnail(gray, 96, 96, 1);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 0.51);
  const flat = grayThumbnail(new Uint8Array(50 * 40).fill(77), 50, 40, 1);
  for (const value of flat) assert.ok(Math.abs(value - 77) < 1e-4);
  assert.equal(perceptualHash(flipThumbnail(flipThumbnail(a))), perceptualHash(a));
});

test('hamming counts differing bits over all 64', () => {
  assert.equal(hamming(0n, 0xffffffffffffffffn), 64);
  assert.equal(hamming(0x8000000000000001n, 1n), 1);
  assert.equal(hamming(0x0123456789abcdefn, 0x0123456789abcdefn), 0);
});

/** Random 64-bit codes in clusters (a base with 8–16 bits flipped, as look-alike faces), plus planted copies. */
function clusteredCodes(rng: Rng, count: number): bigint[] {
  const random64 = (): bigint => (BigInt(Math.floor(rng() * 2 ** 32)) << 32n) | BigInt(Math.floor(rng() * 2 ** 32));
  const flip = (code: bigint, bits: number): bigint => {
    let out = code;
    for (let b = 0; b < bits; b++) out ^= 1n << BigInt(Math.floor(rng() * 64));
    return out;
  };
  const bases = Array.from({ length: 20 }, random64);
  const codes: bigint[] = [];
  while (codes.length < count) {
    if (codes.length > 0 && rng() < 0.1)
      codes.push(flip(codes[Math.floor(rng() * codes.length)]!, Math.floor(rng() * 12)));
    else codes.push(flip(bases[Math.floor(rng() * bases.length)]!, 8 + Math.floor(rng() * 9)));
  }
  return codes;
}

test('multi-index hashing finds exactly what a linear scan finds within the radius', () => {
  const rng = seededRandom(7, 'mih');
  const codes = clusteredCodes(rng, 1500);
  for (const chunks of [3, 4, 5, 8]) {
    const index = new HashIndex({ chunks });
    for (const code of codes) index.add(code);
    for (const radius of [0, 3, 7, 10, 13]) {
      const expected: string[] = [];
      for (let i = 0; i < codes.length; i++) {
        for (let j = i + 1; j < codes.length; j++) {
          const distance = hamming(codes[i]!, codes[j]!);
          if (distance <= radius) expected.push(`${i},${j},${distance}`);
        }
      }
      const found = index.pairsWithin(radius).map((p) => `${p.i},${p.j},${p.distance}`);
      assert.deepEqual(found, expected, `chunks ${chunks}, radius ${radius}`);
      const query = codes[radius]!;
      const scan = codes.flatMap((code, i) => (hamming(code, query) <= radius ? [i] : []));
      assert.deepEqual(
        index.query(query, radius).map((hit) => hit.index),
        scan,
      );
    }
  }
});

test('a widening search adds, radius by radius, exactly what a linear scan finds for each of its codes', () => {
  const codes = clusteredCodes(seededRandom(10, 'mih-widening'), 1200);
  for (const chunks of [3, 4, 8]) {
    const index = new HashIndex({ chunks });
    for (const code of codes) index.add(code);
    for (const around of [[codes[5]!], [codes[17]!, codes[900]!]]) {
      const widening = index.widening(around, 12);
      const seen: string[] = [];
      for (const radius of [0, 1, 2, 5, 6, 9, 12]) {
        for (const hit of widening.to(radius)) seen.push(`${hit.code}:${hit.index}:${hit.distance}`);
        const scan = around.flatMap((query, c) =>
          codes.flatMap((code, i) => {
            const distance = hamming(code, query);
            return distance <= radius ? [`${c}:${i}:${distance}`] : [];
          }),
        );
        assert.deepEqual([...seen].sort(), scan.sort(), `chunks ${chunks}, radius ${radius}`);
      }
      assert.throws(() => widening.to(3), /must grow/);
      assert.throws(() => widening.to(13), /up to 12/);
    }
    const first = index.widening([codes[0]!]);
    index.widening([codes[1]!]);
    assert.throws(() => first.to(4), /later widening/);
  }
  assert.equal(chunksFor(2307 * 27), 4, 'the demo: 16-bit chunks');
  assert.equal(chunksFor(40000 * 27), 3, '40,000 images: 21–22-bit chunks');
});

test('hash pairs do not depend on insertion order', () => {
  const codes = clusteredCodes(seededRandom(8, 'mih-order'), 800);
  const order = shuffle(
    seededRandom(9, 'mih-order'),
    codes.map((_, i) => i),
  );
  const inOrder = new HashIndex();
  const shuffled = new HashIndex();
  for (const code of codes) inOrder.add(code);
  for (const i of order) shuffled.add(codes[i]!);
  const canonical = (pairs: { i: number; j: number }[], map: (i: number) => number): string[] =>
    pairs.map(({ i, j }) => [map(i), map(j)].sort((a, b) => a - b).join(',')).sort();
  assert.deepEqual(
    canonical(shuffled.pairsWithin(RADIUS), (i) => order[i]!),
    canonical(inOrder.pairsWithin(RADIUS), (i) => i),
  );
});

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/** Embeddings in look-alike clusters (centre + noise), with every tenth one a planted near copy of an earlier one. */
function clusteredVectors(
  rng: Rng,
  count: number,
  dim: number,
): { vectors: Float32Array[]; planted: [number, number][] } {
  const centres = Array.from({ length: 15 }, () => Float32Array.from({ length: dim }, () => gaussian(rng)));
  const vectors: Float32Array[] = [];
  const planted: [number, number][] = [];
  for (let n = 0; n < count; n++) {
    if (n % 10 === 9) {
      const source = Math.floor(rng() * n);
      vectors.push(vectors[source]!.map((v) => v + 0.05 * gaussian(rng)));
      planted.push([source, n]);
    } else {
      const centre = centres[Math.floor(rng() * centres.length)]!;
      vectors.push(centre.map((v) => v + 0.9 * gaussian(rng)));
    }
  }
  return { vectors, planted };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let d = 0; d < a.length; d++) {
    dot += a[d]! * b[d]!;
    na += a[d]! * a[d]!;
    nb += b[d]! * b[d]!;
  }
  return dot / Math.sqrt(na * nb);
}

test('the vector index finds planted near vectors, and the exact nearest neighbours almost always', () => {
  const dim = 64;
  const { vectors, planted } = clusteredVectors(seededRandom(11, 'hnsw'), 3000, dim);
  const index = new VectorIndex(dim, { seed: 3 });
  vectors.forEach((vector, id) => index.add(id, vector));
  const pairs = index.pairsAbove(0.95, 5);
  const found = new Set(pairs.map((p) => `${p.i},${p.j}`));
  for (const [i, j] of planted) assert.ok(found.has(`${i},${j}`), `planted pair ${i},${j} missed`);
  for (const pair of pairs) assert.ok(Math.abs(pair.cosine - cosine(vectors[pair.i]!, vectors[pair.j]!)) < 1e-5);
  // Recall of the 10 exact nearest neighbours for 100 queries.
  let hits = 0;
  for (let q = 0; q < 100; q++) {
    const query = vectors[q * 29]!;
    const exact = vectors
      .map((v, id) => ({ id, c: cosine(query, v) }))
      .sort((a, b) => b.c - a.c || a.id - b.id)
      .slice(0, 10)
      .map((e) => e.id);
    const approximate = new Set(index.neighbours(query, 10).map((n) => n.id));
    hits += exact.filter((id) => approximate.has(id)).length;
  }
  assert.ok(hits / 1000 >= 0.95, `recall@10 ${hits / 1000}`);
  const answer = index.neighbours(vectors[9]!, 3, 0.99);
  assert.equal(answer[0]!.id, 9);
  assert.ok(answer.every((n) => n.cosine >= 0.99));
});

test('the vector index gives the same answer for the same insertion order and seed', () => {
  const dim = 32;
  const { vectors } = clusteredVectors(seededRandom(12, 'hnsw-repeat'), 1200, dim);
  const build = (): string => {
    const index = new VectorIndex(dim, { seed: 5, connections: 8 });
    vectors.forEach((vector, id) => index.add(id, vector));
    return JSON.stringify(index.pairsAbove(0.9, 4));
  };
  assert.equal(build(), build());
});

test('clusters join chains of pairs, sorted, whatever the order of the pairs', () => {
  const pairs: [number, number][] = [
    [7, 3],
    [3, 9],
    [1, 4],
    [9, 12],
    [4, 1],
    [2, 2],
  ];
  const expected = [
    [1, 4],
    [3, 7, 9, 12],
  ];
  assert.deepEqual(clustersFromPairs(13, pairs), expected);
  assert.deepEqual(clustersFromPairs(13, [...pairs].reverse()), expected);
  assert.deepEqual(clustersFromPairs(13, [{ i: 12, j: 9 }, { i: 4, j: 1 }, [3, 9], [7, 9]]), expected);
  assert.throws(() => clustersFromPairs(5, [[1, 5]]), RangeError);
});

test('verified duplicates merge both candidate lists, check each pair once, in order', () => {
  const seen: string[] = [];
  const result = verifiedDuplicates(
    10,
    [
      [
        { i: 5, j: 6 },
        { i: 1, j: 2 },
      ],
      [[2, 1], [8, 9], [6, 7], { i: 0, j: 9 }],
    ],
    (i, j) => {
      seen.push(`${i},${j}`);
      return !(i === 0 && j === 9);
    },
  );
  assert.deepEqual(seen, ['0,9', '1,2', '5,6', '6,7', '8,9']);
  assert.equal(result.checked, 5);
  assert.deepEqual(result.pairs, [
    [1, 2],
    [5, 6],
    [6, 7],
    [8, 9],
  ]);
  assert.deepEqual(result.clusters, [
    [1, 2],
    [5, 6, 7],
    [8, 9],
  ]);
});
