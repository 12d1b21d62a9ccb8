import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ManifestRecord } from '../datasets/record.js';
import { applyPolicy, transitionMatrix } from '../stages/reclassify-inputs/policy.js';

const record = (blob: string, label: string): ManifestRecord =>
  ({
    blob,
    source: 's',
    label,
    origPath: blob,
    sourceLabel: label,
    width: 1,
    height: 1,
    channels: 1,
    format: 'png',
    synthetic: false,
  }) as ManifestRecord;

const records = [record('a', 'angry'), record('b', 'happy'), record('c', 'sad')];
const issues = [{ index: 1, given: 3, suggested: 5, selfConfidence: 0.1, confidence: 0.8 }];

test('relabel changes the label and records the change in labelHistory, leaving the input untouched', () => {
  const outcome = applyPolicy(records, issues, 'relabel', 'reclassify');
  assert.deepEqual(
    outcome.records.map((r) => r.label),
    ['angry', 'sad', 'sad'],
  );
  assert.deepEqual(outcome.relabelled[0]!.labelHistory, [
    { stage: 'reclassify', from: 'happy', to: 'sad', confidence: 0.8 },
  ]);
  assert.equal(records[1]!.label, 'happy');
  assert.equal(records[1]!.labelHistory, undefined);
  // A second pass appends, oldest first.
  const again = applyPolicy(
    outcome.records,
    [{ index: 1, given: 5, suggested: 2, selfConfidence: 0.2, confidence: 0.6 }],
    'relabel',
    'reclassify',
  );
  assert.deepEqual(
    again.records[1]!.labelHistory!.map((c) => `${c.from}->${c.to}`),
    ['happy->sad', 'sad->fear'],
  );
  // angry 1 → angry; happy → sad; sad → sad.
  const matrix = transitionMatrix(records, outcome.records);
  assert.equal(matrix[0]![0], 1);
  assert.equal(matrix[3]![5], 1);
  assert.equal(matrix[5]![5], 1);
});

test('prune drops the image and lists it; report changes nothing', () => {
  const pruned = applyPolicy(records, issues, 'prune', 'reclassify');
  assert.deepEqual(
    pruned.records.map((r) => r.blob),
    ['a', 'c'],
  );
  assert.deepEqual(
    pruned.pruned.map((r) => r.blob),
    ['b'],
  );
  assert.equal(
    transitionMatrix(records, pruned.records)
      .flat()
      .reduce((a, b) => a + b),
    2,
    'pruned images leave the matrix',
  );
  const reported = applyPolicy(records, issues, 'report', 'reclassify');
  assert.deepEqual(reported.records, records);
  assert.equal(reported.relabelled.length + reported.pruned.length, 0);
});
