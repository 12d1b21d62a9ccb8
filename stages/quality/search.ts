import { chunksFor, HashIndex } from '../../datasets/near-duplicates/hash-index.js';
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
  seconds: { hashes: number; embeddings: number; verify: number };
}

/** Of two matches with one image: the nearer; at equal distance the unmirrored, then the lower window. */
const closer = (a: Start, b: Start): boolean =>
  a.distance !== b.distance ? a.distance < b.distance : a.mirrored !== b.mirrored ? !a.mirrored : a.window < b.window;

/**
 * The embedding index's graph: 8 links a node (16 on the bottom layer), beams of 40 to insert and 32 to search.
 * Measured on 10,000 stand-in embeddings (bench/quality-inputs.ts) against an exact scan: every pair found, as
 * with the index's defaults (16 links, beams 100 and 64), with the build 3.8× and the queries 2× faster.
 */
const VECTOR_INDEX = { connections: 8, efConstruction: 40, efSearch: 32 };

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
  const index = new HashIndex({ chunks: chunksFor(items.length * windows) });
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
    // The radius grows a bit at a time from 0 (HashIndex.widening probes only what each step adds): where
    // look-alikes crowd, the nearest are all close, and enumerating everything within the full radius is what
    // would grow with the square of the dataset. The answer is the full radius's: once a radius holds
    // `hashNeighbours` images, nothing beyond it can be among the nearest.
    const codes = p.flip ? [item.hashes[0]!, item.flippedHash] : [item.hashes[0]!];
    const widening = index.widening(codes, p.hashRadius);
    const nearestOf = new Map<number, Start>();
    for (let radius = 0; radius <= p.hashRadius; radius++) {
      for (const { index: at, distance, code } of widening.to(radius)) {
        const owner = Math.floor(at / windows);
        if (owner === i) continue;
        const known = nearestOf.get(owner);
        const start = { owner, window: at % windows, distance, mirrored: code === 1 };
        if (!known || closer(start, known)) nearestOf.set(owner, start);
      }
      if (nearestOf.size >= p.hashNeighbours) break;
    }
    const nearest = [...nearestOf.values()].sort((a, b) => a.distance - b.distance || a.owner - b.owner);
    for (const start of nearest.slice(0, p.hashNeighbours))
      note(i, start.owner, start.mirrored ? 'mirror' : 'hash', start);
  });
  const hashed = performance.now();
  if (items.some((item) => item.embedding)) {
    const dim = items.find((item) => item.embedding)!.embedding!.length;
    const vectors = new VectorIndex(dim, { seed: 1, ...VECTOR_INDEX });
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
    seconds: {
      hashes: (hashed - started) / 1000,
      embeddings: (indexed - hashed) / 1000,
      verify: (performance.now() - indexed) / 1000,
    },
  };
}
