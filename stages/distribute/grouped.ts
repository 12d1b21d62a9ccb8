import { shuffle, type Rng } from '../../lib/random.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { EMOTIONS, subgroupOf } from '../../datasets/vocabulary.js';
import { splitQuotas, stratifiedSplit, type SplitFractions } from './split.js';

/** The images of one source × emotion, as indices into the input. */
interface Stratum {
  source: string;
  emotion: string;
  members: number[];
}

const byBlob = (input: readonly ManifestRecord[]) => (a: number, b: number) => {
  const [x, y] = [input[a]!.blob, input[b]!.blob];
  return x < y ? -1 : x > y ? 1 : a - b;
};

/** Source × emotion strata in a fixed order (sources sorted, emotions canonical first), members sorted by blob. */
function strata(input: readonly ManifestRecord[]): Stratum[] {
  const sources = [...new Set(input.map((r) => r.source))].sort();
  const labels = [...EMOTIONS, ...new Set(input.map((r) => r.label).filter((l) => !EMOTIONS.includes(l)))];
  const found: Stratum[] = [];
  for (const source of sources)
    for (const emotion of labels) {
      const members = input.flatMap((r, i) => (r.source === source && r.label === emotion ? [i] : []));
      // Sorted by blob first, so the split does not depend on the order records arrive in.
      found.push({ source, emotion, members: members.sort(byBlob(input)) });
    }
  return found;
}

const subgroupKey = (r: ManifestRecord) => subgroupOf(r) ?? '~';

/**
 * A split (index into `fractions`) per input record. Each source × emotion gets its fractions to within an
 * image, spread over subgroups (split.ts). With `grouped`, each near-duplicate cluster a quality stage found
 * (`duplicateCluster`) goes whole into one split first — the split whose quotas, over the strata its members
 * belong to, have the most room left — and every stratum's other images fill what is left, in proportion to
 * each split's shortfall. Without clusters both ways give the same split.
 */
export function assignSplits(
  input: readonly ManifestRecord[],
  fractions: SplitFractions,
  random: (label: string) => Rng,
  grouped: boolean,
): number[] {
  const result = new Array<number>(input.length);
  const all = strata(input);
  const clustered = grouped ? clusters(input) : [];
  const inCluster = new Set(clustered.flat());
  const stratumOf = new Map<number, Stratum>();
  for (const stratum of all) for (const i of stratum.members) stratumOf.set(i, stratum);
  const quotas = new Map(all.map((s) => [s, splitQuotas(s.members.length, fractions)]));
  const given = new Map(all.map((s) => [s, fractions.map(() => 0)]));
  for (const members of shuffle(random('duplicate clusters'), clustered)) {
    const room = fractions.map((_, split) =>
      members.reduce((sum, i) => {
        const s = stratumOf.get(i)!;
        return sum + (quotas.get(s)![split]! - given.get(s)![split]!) / Math.max(1, s.members.length);
      }, 0),
    );
    const split = room.indexOf(Math.max(...room));
    for (const i of members) {
      result[i] = split;
      given.get(stratumOf.get(i)!)![split]!++;
    }
  }
  for (const stratum of all) {
    const free = stratum.members.filter((i) => !inCluster.has(i));
    const records = free.map((i) => input[i]!);
    const label = `${stratum.source} ${stratum.emotion}`;
    const left = fractions.map((_, split) => Math.max(0, quotas.get(stratum)![split]! - given.get(stratum)![split]!));
    const total = left.reduce((a, b) => a + b, 0);
    const freeQuotas =
      free.length === stratum.members.length || total === 0
        ? splitQuotas(free.length, fractions)
        : splitQuotas(
            free.length,
            fractions.map(([name], split) => [name, left[split]! / total] as const),
          );
    stratifiedSplit(records, fractions, subgroupKey, random(label), freeQuotas).forEach(
      (split, k) => (result[free[k]!] = split),
    );
  }
  return result;
}

/** The clusters as lists of input indices (each sorted by blob), in the order of their ids. */
function clusters(input: readonly ManifestRecord[]): number[][] {
  const byId = new Map<string, number[]>();
  input.forEach((r, i) => {
    if (r.duplicateCluster)
      (byId.get(r.duplicateCluster) ?? byId.set(r.duplicateCluster, []).get(r.duplicateCluster)!).push(i);
  });
  return [...byId.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, members]) => members.sort(byBlob(input)))
    .filter((members) => members.length > 1);
}

export interface Leakage {
  crossSplitPairs: number;
  /** Cross-split pairs by source pair ("affectnet × fer2013"; within one source "nhfi × nhfi"). */
  perSourcePair: Record<string, number>;
}

/** Near-duplicate pairs (every two images of a cluster) whose images sit in different splits. */
export function leakage(input: readonly ManifestRecord[], splitOf: readonly number[]): Leakage {
  const perSourcePair: Record<string, number> = {};
  let crossSplitPairs = 0;
  for (const members of clusters(input))
    for (let x = 0; x < members.length; x++)
      for (let y = x + 1; y < members.length; y++) {
        const [a, b] = [members[x]!, members[y]!];
        if (splitOf[a] === splitOf[b]) continue;
        crossSplitPairs++;
        const key = [input[a]!.source, input[b]!.source].sort().join(' × ');
        perSourcePair[key] = (perSourcePair[key] ?? 0) + 1;
      }
  const sorted = Object.fromEntries(Object.entries(perSourcePair).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { crossSplitPairs, perSourcePair: sorted };
}

/** Pairs of near-duplicates in the input (every two images of a cluster), and the clusters. */
export function clusterCounts(input: readonly ManifestRecord[]): { clusters: number; pairs: number } {
  const found = clusters(input);
  return { clusters: found.length, pairs: found.reduce((sum, m) => sum + (m.length * (m.length - 1)) / 2, 0) };
}
