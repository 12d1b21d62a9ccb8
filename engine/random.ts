import { createHash } from 'node:crypto';

/** A 32-bit seed derived from the pipeline seed and labels (stage name, purpose), stable across platforms. */
export function deriveSeed(seed: number, ...labels: string[]): number {
  return createHash('sha256').update(JSON.stringify([seed, ...labels])).digest().readUInt32LE(0);
}

/** sfc32: a small, fast PRNG with a 128-bit state, seeded through sha256 so nearby seeds do not correlate. */
export function seededRandom(seed: number, ...labels: string[]): () => number {
  const state = createHash('sha256').update(JSON.stringify(['sfc32', seed, ...labels])).digest();
  let a = state.readUInt32LE(0);
  let b = state.readUInt32LE(4);
  let c = state.readUInt32LE(8);
  let d = state.readUInt32LE(12);
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}
