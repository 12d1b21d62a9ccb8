import type { Hash } from '../../cache/hash.js';
import type { ManifestRecord } from '../../datasets/record.js';
import type { ImageSignature } from './worker.js';
import type { QualityParams } from './params.js';
import type { FoundPair } from './search.js';

export type FindingKind = 'noFace' | 'severalFaces' | 'blank' | 'exposure' | 'outlier';

export interface Member {
  blob: Hash;
  source: string;
  origPath: string;
  label: string;
}

export interface Finding extends Member {
  kind: FindingKind;
  /** What was measured: faces found, gray deviation, clipped share, robust deviations from the class. */
  value: number;
  policy: 'keep' | 'flag' | 'drop';
}

export interface Cluster {
  /** Its first member's blob: the same images give the same id on every run. */
  id: Hash;
  members: Member[];
  sources: string[];
  labels: string[];
}

export const member = (r: ManifestRecord): Member => ({
  blob: r.blob,
  source: r.source,
  origPath: r.origPath,
  label: r.label,
});

/** No face, several, blank, badly exposed: from each image's signature alone. */
export function imageFindings(
  records: readonly ManifestRecord[],
  signatureOf: (blob: Hash) => ImageSignature | undefined,
  p: QualityParams,
): Finding[] {
  const found: Finding[] = [];
  for (const r of records) {
    const s = signatureOf(r.blob);
    if (!s) continue;
    const add = (kind: FindingKind, value: number) =>
      found.push({ ...member(r), kind, value: Number(value.toFixed(4)), policy: p.policy[kind] });
    if (s.faces === 0) add('noFace', 0);
    if (s.faces !== null && s.faces > 1) add('severalFaces', s.faces);
    if (s.deviation < p.exposure.minDeviation) add('blank', s.deviation);
    else if (Math.max(s.dark, s.bright) > p.exposure.maxClipped) add('exposure', Math.max(s.dark, s.bright));
  }
  return found;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/**
 * Embedding outliers per class: the cosine distance of each image to its class's mean direction, against the
 * class's median distance and its median absolute deviation (robust, so the outliers do not hide themselves).
 */
export function embeddingOutliers(
  records: readonly ManifestRecord[],
  embeddingOf: (blob: Hash) => Float32Array | undefined,
  p: QualityParams,
): Finding[] {
  const byLabel = new Map<string, Array<{ r: ManifestRecord; v: Float32Array }>>();
  for (const r of records) {
    const v = embeddingOf(r.blob);
    if (v) (byLabel.get(r.label) ?? byLabel.set(r.label, []).get(r.label)!).push({ r, v });
  }
  const found: Finding[] = [];
  for (const [, members] of [...byLabel].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (members.length < 8) continue; // too few to say what the class looks like
    const dim = members[0]!.v.length;
    const centre = new Float64Array(dim);
    for (const { v } of members) {
      const norm = Math.hypot(...v) || 1;
      for (let d = 0; d < dim; d++) centre[d]! += (v[d] as number) / norm;
    }
    const centreNorm = Math.hypot(...centre) || 1;
    const distances = members.map(({ v }) => {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += (v[d] as number) * (centre[d] as number);
      return 1 - dot / ((Math.hypot(...v) || 1) * centreNorm);
    });
    const mid = median(distances);
    const spread = 1.4826 * median(distances.map((d) => Math.abs(d - mid))) || 1e-9;
    members.forEach(({ r }, i) => {
      const z = ((distances[i] as number) - mid) / spread;
      if (z > p.outliers.deviations)
        found.push({ ...member(r), kind: 'outlier', value: Number(z.toFixed(2)), policy: p.policy.outlier });
    });
  }
  return found;
}

/** Clusters of records (item indices → records by blob), largest first, then by id. */
export function clustersOf(
  itemClusters: readonly number[][],
  recordsOf: (item: number) => ManifestRecord[],
): Cluster[] {
  return itemClusters
    .map((items) => {
      const members = items
        .flatMap(recordsOf)
        .map(member)
        .sort((a, b) => (a.blob < b.blob ? -1 : a.blob > b.blob ? 1 : a.source < b.source ? -1 : 1));
      return {
        id: members[0]!.blob,
        members,
        sources: [...new Set(members.map((m) => m.source))].sort(),
        labels: [...new Set(members.map((m) => m.label))].sort(),
      };
    })
    .sort((a, b) => b.members.length - a.members.length || (a.id < b.id ? -1 : 1));
}

/** Duplicate pairs counted per source pair ("affectnet × fer2013"), within a source as "nhfi × nhfi". */
export function pairsPerSourcePair(
  pairs: readonly FoundPair[],
  sourceOf: (item: number) => string,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { a, b } of pairs) {
    const key = [sourceOf(a), sourceOf(b)].sort().join(' × ');
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
}
