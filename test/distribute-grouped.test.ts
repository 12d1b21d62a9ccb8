import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../lib/random.js';
import type { ManifestRecord } from '../datasets/record.js';
import { assignSplits, leakage } from '../stages/distribute/grouped.js';

const PAPER = [
  ['train', 0.8],
  ['val', 0.1],
  ['test', 0.1],
] as const;
const random = (label: string) => seededRandom(7, label);

/** 3 sources × 2 emotions × 40 images; every 4th image has a copy in each other source (a cluster of three). */
function records(withClusters: boolean): ManifestRecord[] {
  const sources = ['a', 'b', 'c'];
  const out: ManifestRecord[] = [];
  sources.forEach((source) =>
    (['happy', 'sad'] as const).forEach((label) => {
      for (let n = 0; n < 40; n++) {
        const cluster = n % 4 === 0 ? `${label}-${n}` : undefined;
        out.push({
          blob: `${source}${label}${String(n).padStart(3, '0')}`.padEnd(64, '0'),
          source,
          origPath: `${label}/${n}.png`,
          label,
          sourceLabel: label,
          width: 48,
          height: 48,
          channels: 1,
          format: 'png',
          synthetic: false,
          gender: n % 2 ? 'female' : 'male',
          age: 'adult',
          ethnicity: 'white',
          ...(withClusters && cluster ? { duplicateCluster: cluster } : {}),
        });
      }
    }),
  );
  return out;
}

test('a grouped split keeps every near-duplicate cluster in one split and leaks no pair', () => {
  const input = records(true);
  const blind = assignSplits(input, PAPER, random, false);
  const grouped = assignSplits(input, PAPER, random, true);
  assert.ok(leakage(input, blind).crossSplitPairs > 0, 'a split blind to the clusters leaks some pairs');
  assert.deepEqual(leakage(input, grouped), { crossSplitPairs: 0, perSourcePair: {} });
  const byCluster = new Map<string, Set<number>>();
  input.forEach(
    (r, i) =>
      r.duplicateCluster &&
      (byCluster.get(r.duplicateCluster) ?? byCluster.set(r.duplicateCluster, new Set()).get(r.duplicateCluster)!).add(
        grouped[i]!,
      ),
  );
  for (const [id, splits] of byCluster) assert.equal(splits.size, 1, `cluster ${id} spans ${splits.size} splits`);
});

test('a grouped split still gives each source × emotion its fractions, to within a cluster', () => {
  const input = records(true);
  const grouped = assignSplits(input, PAPER, random, true);
  for (const source of ['a', 'b', 'c'])
    for (const label of ['happy', 'sad']) {
      const of = input.flatMap((r, i) => (r.source === source && r.label === label ? [grouped[i]!] : []));
      PAPER.forEach(([name, fraction], split) => {
        const count = of.filter((s) => s === split).length;
        assert.ok(Math.abs(count - fraction * of.length) <= 3, `${source} ${label} ${name}: ${count} of ${of.length}`);
      });
    }
});

test('without clusters the grouped split is the plain one', () => {
  const input = records(false);
  assert.deepEqual(assignSplits(input, PAPER, random, true), assignSplits(input, PAPER, random, false));
});
