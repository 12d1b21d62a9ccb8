import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findLabelIssues } from '../stages/reclassify-inputs/confident-learning.js';

test('confident learning on a hand-made matrix: thresholds, confident joint and ranked issues as worked out by hand', () => {
  // Three classes; rows are out-of-fold p(0), p(1), p(2).
  const probabilities = [
    [0.9, 0.05, 0.05], // 0: labelled 0
    [0.6, 0.3, 0.1], //   1: labelled 0
    [0.2, 0.7, 0.1], //   2: labelled 0 — confidently 1: an issue
    [0.1, 0.8, 0.1], //   3: labelled 1
    [0.3, 0.6, 0.1], //   4: labelled 1
    [0.5, 0.4, 0.1], //   5: labelled 1 — p(0) ≥ t0 and p(1) < t1: confidently 0, an issue
    [0.1, 0.1, 0.8], //   6: labelled 2
    [0.3, 0.3, 0.4], //   7: labelled 2 — above no threshold: not counted
  ];
  const labels = [0, 0, 0, 1, 1, 1, 2, 2];
  const result = findLabelIssues(probabilities, labels, 3);
  // t0 = (0.9 + 0.6 + 0.2) / 3, t1 = (0.8 + 0.6 + 0.4) / 3, t2 = (0.8 + 0.4) / 2
  assert.deepEqual(
    result.thresholds.map((t) => Number(t.toFixed(4))),
    [0.5667, 0.6, 0.6],
  );
  // Row 0: images 0, 1 → class 0; image 2: p1 0.7 ≥ 0.6 → class 1.
  // Row 1: image 3 → 1; image 4: p1 0.6 ≥ 0.6 → 1; image 5: p0 0.5 < 0.5667 and p1 0.4 < 0.6 → not counted.
  // Row 2: image 6 → 2; image 7: nothing above its threshold → not counted.
  assert.deepEqual(result.confidentJoint, [
    [2, 1, 0],
    [0, 2, 0],
    [0, 0, 1],
  ]);
  assert.deepEqual(result.issues, [{ index: 2, given: 0, suggested: 1, selfConfidence: 0.2, confidence: 0.7 }]);
});

test('among several confident classes the most probable wins; issues are ranked least self-confident first', () => {
  const probabilities = [
    [0.5, 0.5, 0],
    [0.5, 0.5, 0], // labelled 0: t0 = 0.5
    [0.05, 0.9, 0.05],
    [0.45, 0.1, 0.45], // labelled 1: t1 = 0.5
    [0, 0, 1],
    [0.55, 0, 0.45], // labelled 2: t2 = 0.725; image 5 → class 0 (0.55 ≥ 0.5)
    [0.52, 0.48, 0], // labelled 1: p0 0.52 ≥ t0 and p1 0.48 < t1 → class 0
  ];
  const labels = [0, 0, 1, 1, 2, 2, 1];
  const result = findLabelIssues(probabilities, labels, 3);
  // t1 = (0.9 + 0.1 + 0.48) / 3 = 0.4933: image 6 has p1 0.48 < t1, p0 0.52 ≥ 0.5 → class 0.
  assert.deepEqual(
    result.issues.map((i) => [i.index, i.given, i.suggested]),
    [
      [5, 2, 0],
      [6, 1, 0],
    ],
  );
  // Image 0 and 1 tie p0 = p1 = 0.5 ≥ both thresholds: the first (class 0) is kept, so no issue.
  assert.equal(result.confidentJoint[0]![0], 2);
  assert.throws(() => findLabelIssues([[1, 0, 0]], [0, 1], 3), /1 probability rows for 2 labels/);
});
