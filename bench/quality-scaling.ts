// Benchmark: how the near-duplicate search of the quality stage grows with the number of images.
//
// For each size it generates signatures as the quality stage computes them (a 64-bit pHash and a 256-d face
// embedding per image) with the structure of a merged FER dataset: faces look alike, so signatures come in a few
// hundred clusters (a base hash with 8–16 bits flipped, a base embedding plus gaussian noise), and ~2 % are planted
// near-duplicates of an earlier image (0–6 bits flipped, a little noise). It then times the whole search: both
// indexes built, hash pairs within the radius (multi-index hashing), embedding pairs above the cosine among each
// item's k nearest (HNSW), the merge, verification and clustering. Each size runs twice and the faster run counts;
// the growth exponent is the least-squares slope of log time against log n, and the time at 71,000 images (the
// paper's merged dataset) is projected from it. Target: an exponent ≤ 1.3 (all pairs would be 2).
//
// Usage: npx tsc -p tsconfig.json && node dist/bench/quality-scaling.js [sizes, comma-separated]
// Imported by bench/quality.ts as duplicateSearchScaling().
import { performance } from 'node:perf_hooks';
import { verifiedDuplicates } from '../datasets/near-duplicates/clusters.js';
import { HashIndex } from '../datasets/near-duplicates/hash-index.js';
import { hamming } from '../datasets/near-duplicates/perceptual-hash.js';
import { VectorIndex } from '../datasets/near-duplicates/vector-index.js';
import { seededRandom, type Rng } from '../lib/random.js';

/** The settings measured here and recommended to the quality stage. */
export const DUPLICATE_SEARCH = {
  hashRadius: 12,
  minCosine: 0.9,
  neighbours: 8,
  vectorIndex: { connections: 8, efConstruction: 40, efSearch: 32, seed: 1 },
  dim: 256,
} as const;

const BASES = 300;
const PLANTED = 0.02;
const PROJECT_TO = 71000;

export interface ScalingRow {
  size: number;
  milliseconds: number;
  hashPairs: number;
  vectorPairs: number;
  duplicatePairs: number;
  clusters: number;
  /** Share of the planted near-duplicate pairs that the search found. */
  plantedRecall: number;
}

export interface ScalingResult {
  rows: ScalingRow[];
  exponent: number;
  projectedMilliseconds: number;
}

interface Signatures {
  hashes: bigint[];
  embeddings: Float32Array[];
  planted: [number, number][];
}

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function random64(rng: Rng): bigint {
  return (BigInt(Math.floor(rng() * 2 ** 32)) << 32n) | BigInt(Math.floor(rng() * 2 ** 32));
}

function flipBits(rng: Rng, code: bigint, bits: number): bigint {
  let out = code;
  for (let b = 0; b < bits; b++) out ^= 1n << BigInt(Math.floor(rng() * 64));
  return out;
}

function unit(vector: Float32Array): Float32Array {
  let norm = 0;
  for (const v of vector) norm += v * v;
  const scale = 1 / Math.sqrt(norm);
  return vector.map((v) => v * scale);
}

/** Signatures of `size` images: look-alike clusters around BASES centres, ~2 % planted near copies. */
export function generateSignatures(size: number, seed = 1): Signatures {
  const rng = seededRandom(seed, 'quality-scaling', String(size));
  const dim = DUPLICATE_SEARCH.dim;
  const baseHashes = Array.from({ length: BASES }, () => random64(rng));
  const baseEmbeddings = Array.from({ length: BASES }, () =>
    unit(Float32Array.from({ length: dim }, () => gaussian(rng))),
  );
  const hashes: bigint[] = [];
  const embeddings: Float32Array[] = [];
  const planted: [number, number][] = [];
  for (let n = 0; n < size; n++) {
    if (n > 0 && rng() < PLANTED) {
      const source = Math.floor(rng() * n);
      hashes.push(flipBits(rng, hashes[source]!, Math.floor(rng() * 7)));
      embeddings.push(unit(embeddings[source]!.map((v) => v + 0.01 * gaussian(rng))));
      planted.push([source, n]);
    } else {
      const base = Math.floor(rng() * BASES);
      hashes.push(flipBits(rng, baseHashes[base]!, 8 + Math.floor(rng() * 9)));
      // σ 0.05 per dimension: cosine ≈ 0.6 to the centre, ≈ 0.4 between two faces of one cluster.
      embeddings.push(unit(baseEmbeddings[base]!.map((v) => v + 0.05 * gaussian(rng))));
    }
  }
  return { hashes, embeddings, planted };
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let d = 0; d < a.length; d++) sum += a[d]! * b[d]!;
  return sum;
}

/** The whole duplicate search over one set of signatures, as the quality stage runs it. */
export function duplicateSearch(signatures: Signatures): Omit<ScalingRow, 'size' | 'milliseconds' | 'plantedRecall'> & {
  pairs: [number, number][];
} {
  const { hashes, embeddings } = signatures;
  const settings = DUPLICATE_SEARCH;
  const hashIndex = new HashIndex();
  for (const code of hashes) hashIndex.add(code);
  const vectorIndex = new VectorIndex(settings.dim, settings.vectorIndex);
  embeddings.forEach((embedding, id) => vectorIndex.add(id, embedding));
  const hashPairs = hashIndex.pairsWithin(settings.hashRadius);
  const vectorPairs = vectorIndex.pairsAbove(settings.minCosine, settings.neighbours);
  // Verification stands in for the stage's own (thumbnail correlation, alignment): both signatures must agree.
  const verify = (i: number, j: number): boolean =>
    hamming(hashes[i]!, hashes[j]!) <= settings.hashRadius && dot(embeddings[i]!, embeddings[j]!) >= settings.minCosine;
  const result = verifiedDuplicates(hashes.length, [hashPairs, vectorPairs], verify);
  return {
    hashPairs: hashPairs.length,
    vectorPairs: vectorPairs.length,
    duplicatePairs: result.pairs.length,
    clusters: result.clusters.length,
    pairs: result.pairs,
  };
}

/** Least-squares slope of log(y) against log(x). */
function logLogSlope(xs: number[], ys: number[]): number {
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b) / lx.length;
  const my = ly.reduce((a, b) => a + b) / ly.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += (lx[i]! - mx) * (ly[i]! - my);
    den += (lx[i]! - mx) ** 2;
  }
  return num / den;
}

export async function duplicateSearchScaling(
  sizes: number[] = [10000, 20000, 40000],
  log: (line: string) => void = console.log,
): Promise<ScalingResult> {
  const rows: ScalingRow[] = [];
  for (const size of sizes) {
    const signatures = generateSignatures(size);
    let best = Infinity;
    let outcome: ReturnType<typeof duplicateSearch> | undefined;
    for (let run = 0; run < 2; run++) {
      const start = performance.now();
      outcome = duplicateSearch(signatures);
      best = Math.min(best, performance.now() - start);
      await new Promise((resolve) => setImmediate(resolve)); // let a caller's logger and timers run
    }
    const found = new Set(outcome!.pairs.map(([i, j]) => `${i},${j}`));
    const plantedRecall =
      signatures.planted.filter(([i, j]) => found.has(`${i},${j}`)).length / signatures.planted.length;
    const { pairs: _pairs, ...counts } = outcome!;
    const row = { size, milliseconds: best, ...counts, plantedRecall };
    rows.push(row);
    log(
      `duplicate search, ${size} images: ${(best / 1000).toFixed(2)} s; hash pairs ${row.hashPairs}, ` +
        `vector pairs ${row.vectorPairs}, verified ${row.duplicatePairs} in ${row.clusters} clusters, ` +
        `planted found ${(100 * plantedRecall).toFixed(1)} %`,
    );
  }
  const exponent =
    rows.length > 1
      ? logLogSlope(
          sizes,
          rows.map((r) => r.milliseconds),
        )
      : NaN;
  const last = rows[rows.length - 1]!;
  const projectedMilliseconds = last.milliseconds * (PROJECT_TO / last.size) ** exponent;
  log(
    `growth exponent ${exponent.toFixed(2)} (target ≤ 1.3); projected at ${PROJECT_TO} images: ` +
      `${(projectedMilliseconds / 1000).toFixed(1)} s`,
  );
  return { rows, exponent, projectedMilliseconds };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv[2]?.split(',').map(Number);
  await duplicateSearchScaling(sizes);
}
