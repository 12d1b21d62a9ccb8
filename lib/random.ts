import { createHash } from 'node:crypto';

/** A 32-bit seed derived from the pipeline seed and labels (stage name, purpose), stable across platforms. */
export function deriveSeed(seed: number, ...labels: string[]): number {
  return createHash('sha256')
    .update(JSON.stringify([seed, ...labels]))
    .digest()
    .readUInt32LE(0);
}

/** sfc32: a small, fast PRNG with a 128-bit state, seeded through sha256 so nearby seeds do not correlate. */
export function seededRandom(seed: number, ...labels: string[]): () => number {
  const state = createHash('sha256')
    .update(JSON.stringify(['sfc32', seed, ...labels]))
    .digest();
  let a = state.readUInt32LE(0);
  let b = state.readUInt32LE(4);
  let c = state.readUInt32LE(8);
  let d = state.readUInt32LE(12);
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (a + b + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

/** Helpers over a uniform PRNG in [0, 1): always one the stage context hands out, so results follow the seed. */
export type Rng = () => number;

export function uniform(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng();
}

export function chance(rng: Rng, probability: number): boolean {
  return rng() < probability;
}

/** An integer in [0, n). */
export function index(rng: Rng, n: number): number {
  return Math.min(n - 1, Math.floor(rng() * n));
}

/**
 * A key drawn with probability proportional to its weight. Keys are visited in insertion order, so draws are
 * stable.
 */
export function weighted<K extends string>(rng: Rng, weights: Readonly<Record<K, number>>): K {
  const keys = Object.keys(weights) as K[];
  const total = keys.reduce((sum, k) => sum + weights[k], 0);
  let r = rng() * total;
  for (const k of keys) {
    r -= weights[k];
    if (r < 0) return k;
  }
  return keys[keys.length - 1]!;
}

/** Fisher–Yates, in place. */
export function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = index(rng, i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
