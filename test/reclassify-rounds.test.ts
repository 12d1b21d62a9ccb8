import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMOTIONS } from '../datasets/vocabulary.js';
import type { ManifestRecord } from '../datasets/record.js';
import { reclassifyRounds, type ProbabilityOracle } from '../stages/reclassify-inputs/rounds.js';

const record = (i: number, label: string, trueLabel: string): ManifestRecord =>
  ({
    blob: `blob-${i}`,
    source: 's',
    label,
    trueLabel,
    origPath: `${i}.png`,
    sourceLabel: label,
    width: 1,
    height: 1,
    channels: 1,
    format: 'png',
    synthetic: false,
  }) as ManifestRecord;

/** 5 angry and 5 happy images; images 4 and 9 carry each other's label. */
const truth = ['angry', 'angry', 'angry', 'angry', 'angry', 'happy', 'happy', 'happy', 'happy', 'happy'];
const given = [...truth.slice(0, 4), 'happy', ...truth.slice(5, 9), 'angry'];
const records = truth.map((t, i) => record(i, given[i] as string, t));
const ANGRY = EMOTIONS.indexOf('angry');
const HAPPY = EMOTIONS.indexOf('happy');

/** Rows that lean `confidence` toward the true class, as a good out-of-fold model would. */
function rows(confidence: number, wrongAt: number[] = []): Float32Array[] {
  return truth.map((t, i) => {
    const row = new Float32Array(EMOTIONS.length);
    const right = t === 'angry' ? ANGRY : HAPPY;
    const leaning = wrongAt.includes(i) ? (right === ANGRY ? HAPPY : ANGRY) : right;
    row[leaning] = confidence;
    row[leaning === ANGRY ? HAPPY : ANGRY] = 1 - confidence;
    return row;
  });
}

/** An oracle that answers from a script, one answer per retraining, and remembers the labels it was given. */
function scripted(...answers: Float32Array[][]): ProbabilityOracle & { calls: Array<ReadonlyArray<number | null>> } {
  const calls: Array<ReadonlyArray<number | null>> = [];
  const oracle = async (labels: ReadonlyArray<number | null>) => {
    calls.push([...labels]);
    const answer = answers[calls.length - 1];
    if (!answer) throw new Error(`oracle called ${calls.length} times, scripted for ${answers.length}`);
    return answer;
  };
  return Object.assign(oracle, { calls });
}

const options = { policy: 'relabel' as const, iterations: 3, minConfidence: 0, retrains: true, stage: 'rc' };

// Probabilities are float32: 0.875 and 0.125 are exact, so thresholds and confidences compare exactly.
const SURE = 0.875;

test('a round is kept when the retrained models score better on the labels as given, and the loop ends at the first that does not', async () => {
  // Round 0 models also get image 0 wrong. Detection on their rows relabels 0 (wrongly), 4 and 9; retrained
  // on those labels they get everything right: 8/10 against the labels as given (the swapped pair counts
  // against them there). Round 2 relabels image 0 back, but its models score no better, so it is dropped.
  const oracle = scripted(rows(SURE, [0]), rows(SURE), rows(SURE));
  const result = await reclassifyRounds(records, oracle, options);
  assert.deepEqual(
    result.rounds.map((r) => [r.round, r.heldOutAccuracy, r.trueAccuracy, r.kept, r.issues]),
    [
      [0, 0.7, 0.9, true, 0],
      [1, 0.8, 1, true, 3],
      [2, 0.8, 1, false, 1],
    ],
  );
  const round1 = ['happy', ...truth.slice(1)];
  assert.deepEqual(
    result.records.map((r) => r.label),
    round1,
  );
  assert.deepEqual(
    oracle.calls.map((labels) => labels.map((l) => EMOTIONS[l as number])),
    [given, round1, truth],
  );
  assert.deepEqual(result.records[4]!.labelHistory, [{ stage: 'rc', from: 'happy', to: 'angry', confidence: SURE }]);
  assert.deepEqual(
    result.issues.map((i) => [i.index, i.round]),
    [
      [0, 1],
      [4, 1],
      [9, 1],
    ],
  );
});

test('a round that does not beat the one before is not kept: its labels are dropped', async () => {
  const oracle = scripted(rows(SURE), rows(SURE, [1, 2, 3]));
  const result = await reclassifyRounds(records, oracle, options);
  assert.deepEqual(
    result.rounds.map((r) => [r.heldOutAccuracy, r.kept]),
    [
      [0.8, true],
      [0.5, false],
    ],
  );
  assert.deepEqual(
    result.records.map((r) => r.label),
    given,
    'labels as given',
  );
  assert.equal(result.issues.length, 0, 'issues of a dropped round are not acted on');
});

test('policy report and a pretrained oracle retrain nothing', async () => {
  const reported = scripted(rows(SURE));
  const result = await reclassifyRounds(records, reported, { ...options, policy: 'report' });
  assert.equal(reported.calls.length, 1);
  assert.deepEqual(
    result.records.map((r) => r.label),
    given,
  );
  assert.deepEqual(result.issues.map((i) => i.index).sort(), [4, 9]);
  assert.deepEqual(
    result.rounds.map((r) => [r.heldOutAccuracy, r.kept]),
    [
      [0.8, true],
      [null, true],
    ],
  );

  const pretrained = scripted(rows(SURE));
  const fixed = await reclassifyRounds(records, pretrained, { ...options, retrains: false });
  assert.equal(pretrained.calls.length, 1);
  assert.deepEqual(
    fixed.records.map((r) => r.label),
    truth,
  );
});

test('prune keeps pruned images out of training but still predicts them; minConfidence holds back unsure issues', async () => {
  const oracle = scripted(rows(SURE, [0]), rows(SURE));
  const result = await reclassifyRounds(records, oracle, { ...options, policy: 'prune', iterations: 1 });
  assert.deepEqual(
    oracle.calls[1]!.flatMap((l, i) => (l === null ? [i] : [])),
    [0, 4, 9],
  );
  assert.equal(oracle.calls[1]!.length, 10, 'pruned images are still predicted');
  assert.deepEqual(
    result.pruned.map((r) => r.blob),
    ['blob-0', 'blob-4', 'blob-9'],
  );
  assert.equal(result.records.length, 7);

  const unsure = scripted(rows(SURE));
  const held = await reclassifyRounds(records, unsure, { ...options, minConfidence: 0.9 });
  assert.equal(unsure.calls.length, 1, 'nothing changed, nothing retrained');
  assert.equal(held.issues.length, 0);
  assert.deepEqual(
    held.records.map((r) => r.label),
    given,
  );
});
