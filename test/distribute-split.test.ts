import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../lib/random.js';
import { dealSplits, splitQuotas, stratifiedSplit } from '../stages/distribute/split.js';

const PAPER = [
  ['train', 0.8],
  ['val', 0.1],
  ['test', 0.1],
] as const;

test('split quotas are n × fraction rounded down or up, and add up to n', () => {
  for (let n = 0; n <= 200; n++) {
    const quotas = splitQuotas(n, PAPER);
    assert.equal(
      quotas.reduce((a, b) => a + b, 0),
      n,
    );
    quotas.forEach((q, s) => assert.ok(Math.abs(q - n * PAPER[s]![1]) < 1, `n ${n}: ${quotas.join('/')}`));
  }
  assert.deepEqual(splitQuotas(10, PAPER), [8, 1, 1]);
  assert.deepEqual(splitQuotas(15, PAPER), [12, 2, 1], 'val and test tie on .5: the first named gets it');
  assert.deepEqual(
    splitQuotas(3, [
      ['a', 1 / 3],
      ['b', 1 / 3],
      ['c', 1 / 3],
    ]),
    [1, 1, 1],
  );
});

test('dealing spreads each split evenly over the sequence', () => {
  const order = dealSplits([8, 1, 1]);
  assert.equal(order.length, 10);
  assert.deepEqual(
    [0, 1, 2].map((s) => order.filter((x) => x === s).length),
    [8, 1, 1],
  );
  // In any prefix a split is within one image of its share.
  const given = [0, 0, 0];
  order.forEach((s, place) => {
    given[s]!++;
    given.forEach((g, k) =>
      assert.ok(Math.abs(g - ((place + 1) * [8, 1, 1][k]!) / 10) <= 1, `place ${place}: ${given.join('/')}`),
    );
  });
});

test('a stratified split is the same for the same seed, another for another seed, and spreads each subgroup', () => {
  const items = Array.from({ length: 100 }, (_, i) => ({
    id: i,
    subgroup: i < 50 ? 'female-young-white' : i < 90 ? 'male-adult-asian' : 'female-old-black',
  }));
  const a = stratifiedSplit(items, PAPER, (x) => x.subgroup, seededRandom(1));
  const b = stratifiedSplit(items, PAPER, (x) => x.subgroup, seededRandom(1));
  const c = stratifiedSplit(items, PAPER, (x) => x.subgroup, seededRandom(2));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(
    [0, 1, 2].map((s) => a.filter((x) => x === s).length),
    [80, 10, 10],
  );
  // Proportional within each subgroup: 50 → 40/5/5, 40 → 32/4/4 (±1).
  for (const [subgroup, size] of [
    ['female-young-white', 50],
    ['male-adult-asian', 40],
  ] as const) {
    const mine = a.filter((_, i) => items[i]!.subgroup === subgroup);
    [0.8, 0.1, 0.1].forEach((f, s) =>
      assert.ok(Math.abs(mine.filter((x) => x === s).length - size * f) <= 1, `${subgroup} split ${s}`),
    );
  }
});
