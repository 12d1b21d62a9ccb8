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

/** A key drawn with probability proportional to its weight. Keys are visited in insertion order, so draws are stable. */
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
