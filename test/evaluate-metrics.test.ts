import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../lib/random.js';
import {
  accuracyByGroup,
  accuracyGain,
  bootstrapIntervals,
  classificationMetrics,
} from '../stages/cross-evaluate/metrics.js';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);

test('accuracy, macro-F1, recall and the confusion matrix match values worked out by hand, with a class never predicted and a class with no images', () => {
  // Class 2 has three images and is never predicted; class 3 has no images but is predicted once; class 4 appears
  // nowhere.
  const truth = [0, 0, 0, 1, 1, 2, 2, 2];
  const predicted = [0, 0, 1, 1, 1, 3, 0, 0];
  const m = classificationMetrics(truth, predicted, 5);
  close(m.accuracy, 4 / 8, 'accuracy');
  // F1: class 0 = 2·(2/4)·(2/3)/((2/4)+(2/3)) = 4/7; class 1 = 2·(2/3)·1/((2/3)+1) = 4/5; classes 2 and 3: 0;
  // class 4 left out.
  close(m.perClassF1[0]!, 4 / 7, 'F1 of class 0');
  close(m.perClassF1[1]!, 4 / 5, 'F1 of class 1');
  assert.deepEqual([m.perClassF1[2], m.perClassF1[3], m.perClassF1[4]], [0, 0, null]);
  close(m.macroF1, (4 / 7 + 4 / 5 + 0 + 0) / 4, 'macro-F1');
  assert.deepEqual(
    m.perClassRecall.map((r) => (r === null ? null : Number(r.toFixed(6)))),
    [0.666667, 1, 0, null, null],
  );
  assert.deepEqual(m.confusion, [
    [2, 1, 0, 0, 0],
    [0, 2, 0, 0, 0],
    [2, 0, 0, 1, 0],
    [0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
  ]);
  assert.deepEqual(
    m.normalisedConfusion[0]!.map((v) => Number(v.toFixed(6))),
    [0.666667, 0.333333, 0, 0, 0],
  );
  assert.deepEqual(m.normalisedConfusion[3], [0, 0, 0, 0, 0], 'a class with no images keeps a row of zeros');
  assert.throws(() => classificationMetrics([0, 7], [0, 0], 5), /class ids must be 0…4: label 7/);
});

test('bootstrap intervals hold the point estimate, are seeded, and collapse when every answer is right', () => {
  const truth = Array.from({ length: 200 }, (_, i) => i % 7);
  const predicted = truth.map((t, i) => (i % 3 === 0 ? (t + 1) % 7 : t));
  const m = classificationMetrics(truth, predicted, 7);
  const options = () => ({ resamples: 400, confidence: 0.95, random: seededRandom(3) });
  const a = bootstrapIntervals(truth, predicted, 7, options());
  assert.deepEqual(a, bootstrapIntervals(truth, predicted, 7, options()), 'same seed, same interval');
  assert.ok(
    a.accuracy[0] <= m.accuracy && m.accuracy <= a.accuracy[1] && a.accuracy[1] - a.accuracy[0] > 0.05,
    JSON.stringify(a),
  );
  assert.ok(a.macroF1[0] <= m.macroF1 && m.macroF1 <= a.macroF1[1]);
  assert.deepEqual(bootstrapIntervals(truth, truth, 7, options()), { accuracy: [1, 1], macroF1: [1, 1] });
});

test('a paired bootstrap calls a gain real only when its interval leaves out zero', () => {
  const truth = Array.from({ length: 120 }, (_, i) => i % 7);
  const half = truth.map((t, i) => (i % 2 ? t : (t + 1) % 7));
  const options = { resamples: 500, confidence: 0.95, random: seededRandom(9) };
  const big = accuracyGain(truth, truth, half, options);
  assert.equal(big.points, 50);
  assert.ok(big.real && big.interval[0] > 30, JSON.stringify(big));
  const none = accuracyGain(truth, half, half, options);
  assert.deepEqual(none, { points: 0, interval: [0, 0], real: false });
  // One image of 120 better is no evidence.
  const tiny = accuracyGain(
    truth,
    half.map((p, i) => (i === 0 ? truth[0]! : p)),
    half,
    options,
  );
  assert.ok(Math.abs(tiny.points - 100 / 120) < 1e-9 && !tiny.real, JSON.stringify(tiny));
});

test('accuracy per group names the worst and best groups with enough images and the gap between them', () => {
  const groups = ['female', 'female', 'male', 'male', 'male', 'male', undefined, 'x'];
  const truth = [0, 1, 0, 1, 2, 3, 4, 5];
  const predicted = [0, 1, 0, 0, 0, 3, 0, 0];
  const g = accuracyByGroup(groups, truth, predicted, 2);
  assert.deepEqual(g.groups, {
    female: { images: 2, accuracy: 1 },
    male: { images: 4, accuracy: 0.5 },
    x: { images: 1, accuracy: 0 },
  });
  assert.deepEqual([g.worst, g.best, g.gapPoints], ['male', 'female', 50], 'x has too few images to be the worst');
  assert.deepEqual(accuracyByGroup(groups, truth, predicted, 10), {
    groups: g.groups,
    worst: null,
    best: null,
    gapPoints: null,
  });
});
