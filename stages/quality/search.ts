import { HashIndex } from '../../datasets/near-duplicates/hash-index.js';
import { VectorIndex } from '../../datasets/near-duplicates/vector-index.js';
import { verifiedDuplicates } from '../../datasets/near-duplicates/clusters.js';
import { HASH_WINDOWS, pairScores, type PairScores } from '../../datasets/near-duplicates/alignment.js';
import { hamming } from '../../datasets/near-duplicates/perceptual-hash.js';
import type { QualityParams } from './params.js';

/** One image as the search sees it, in a canonical order (by blob) so the answers do not depend on input order. */
export interface SearchItem {
  /** The whole image's hash first, then its windows' (alignment.ts HASH_WINDOWS). */
  hashes: bigint[];
  flippedHash: bigint;
  /** The 48×48 gray sample (alignment.ts). */
  sample: Uint8Array;
  embedding?: Float32Array;
}

export type Proposer = 'hash' | 'mirror' | 'embedding';

/** Where registration starts: the window of `owner` whose hash was nearest the other image's whole (or mirror). */
interface Start {
  owner: number;
  window: number;
  distance: number;
  mirrored: boolean;
}

interface Proposal {
  by: Set<Proposer>;
  start?: Start;
}

export interface FoundPair {
  a: number;
  b: number;
  scores: PairScores;
  /** Which index proposed it. */
  via: Proposer[];
}

export interface DuplicateSearch {
  pairs: FoundPair[];
  clusters: number[][];
  candidates: number;
  seconds: { index: number; verify: number };
}

/** The fewest bits between one image's whole hash (or its mirror's) and any window hash of the other, both ways. */
function nearest(a: SearchItem, b: SearchItem, mirrored: boolean): number {
  let best = 64;
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    const whole = mirrored ? x.flippedHash : x.hashes[0]!;
    for (const hash of y.hashes) best = Math.min(best, hamming(whole, hash));
  }
  return best;
}

/**
 * Candidates from the hash index — every image's whole hash (and, with `flip`, its mirror image's) looked up
 * within `hashRadius` among all images' window hashes, so crops and shifts are found without alignment — and from
 * the embedding index (each image's `neighbours` nearest above `minCosine`). Each distinct pair is verified once
 * by registration, from the window whose hash matched best where there is one, and the accepted pairs are
 * clustered. `onPair`
 * hears every verified candidate's scores (bench:quality uses it to show where the thresholds fall).
 */
export function searchDuplicates(
  items: readonly SearchItem[],
  p: QualityParams['duplicates'],
  onPair?: (i: number, j: number, scores: PairScores) => void,
): DuplicateSearch {
  const started = performance.now();
  const windows = items[0]?.hashes.length ?? 1;
  const index = new HashIndex();
  for (const item of items) for (const hash of item.hashes) index.add(hash);
  const proposed = new Map<number, Proposal>();
  const candidates: Array<[number, number]> = [];
  const note = (i: number, j: number, by: Proposer, start?: Start) => {
    if (i === j) return;
    const [a, b] = i < j ? [i, j] : [j, i];
    const key = a * items.length + b;
    let proposal = proposed.get(key);
    if (!proposal) {
      proposed.set(key, (proposal = { by: new Set() }));
      candidates.push([a, b]);
    }
    proposal.by.add(by);
    if (start && (!proposal.start || start.distance < proposal.start.distance)) proposal.start = start;
  };
  items.forEach((item, i) => {
    // Each other image once, at its nearest window (whole or mirror); only the nearest `hashNeighbours` are
    // proposed, so look-alike faces, which crowd a hash's neighbourhood as a dataset grows, cannot make the
    // verification grow with the square of its size.
    // A small radius first: where look-alikes crowd, the nearest are all close, and enumerating everything
    // within the full radius is what would grow with the square of the dataset. The answer is the same.
    let nearestOf = new Map<number, Start>();
    for (const radius of new Set([Math.min(4, p.hashRadius), p.hashRadius])) {
      nearestOf = new Map<number, Start>();
      for (const mirrored of p.flip ? [false, true] : [false]) {
        const whole = mirrored ? item.flippedHash : item.hashes[0]!;
        for (const { index: at, distance } of index.query(whole, radius)) {
          const owner = Math.floor(at / windows);
          const known = nearestOf.get(owner);
          if (owner !== i && (!known || distance < known.distance))
            nearestOf.set(owner, { owner, window: at % windows, distance, mirrored });
        }
      }
      if (nearestOf.size >= p.hashNeighbours) break;
    }
    const nearest = [...nearestOf.values()].sort((a, b) => a.distance - b.distance || a.owner - b.owner);
    for (const start of nearest.slice(0, p.hashNeighbours))
      note(i, start.owner, start.mirrored ? 'mirror' : 'hash', start);
  });
  if (items.some((item) => item.embedding)) {
    const vectors = new VectorIndex(items.find((item) => item.embedding)!.embedding!.length, { seed: 1 });
    items.forEach((item, i) => item.embedding && vectors.add(i, item.embedding));
    for (const pair of vectors.pairsAbove(p.minCosine, p.neighbours)) note(pair.i, pair.j, 'embedding');
  }
  const indexed = performance.now();
  const scores = new Map<number, PairScores>();
  const rejectBelow = p.minLayout - 0.1;
  const found = verifiedDuplicates(items.length, [candidates], (i, j) => {
    const { start } = proposed.get(i * items.length + j)!;
    let s: PairScores;
    if (start) {
      const other = start.owner === i ? j : i;
      const window = HASH_WINDOWS[start.window]!;
      s = pairScores(items[start.owner]!.sample, items[other]!.sample, start.mirrored, rejectBelow, window);
      // Near the line, the grid both ways round may find a better registration than the hash's window did.
      if (s.layout < p.minLayout) {
        const again = pairScores(items[i]!.sample, items[j]!.sample, start.mirrored, rejectBelow);
        if (again.layout > s.layout) s = again;
      }
    } else {
      const mirrored = p.flip && nearest(items[i]!, items[j]!, true) < nearest(items[i]!, items[j]!, false);
      s = pairScores(items[i]!.sample, items[j]!.sample, mirrored, rejectBelow);
    }
    scores.set(i * items.length + j, s);
    onPair?.(i, j, s);
    return s.layout >= p.minLayout;
  });
  return {
    pairs: found.pairs.map(([a, b]) => ({
      a,
      b,
      scores: scores.get(a * items.length + b)!,
      via: [...proposed.get(a * items.length + b)!.by].sort(),
    })),
    clusters: found.clusters,
    candidates: found.checked,
    seconds: { index: (indexed - started) / 1000, verify: (performance.now() - indexed) / 1000 },
  };
}
