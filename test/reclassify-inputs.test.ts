import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { Store } from '../cache/store.js';
import type { Lockfile } from '../engine/lockfile.js';
import type { ManifestRecord } from '../datasets/record.js';
import { cli, executedStages, makeProject, startCli, waitFor } from './helpers.js';

/**
 * A generated FER2013-style source with 10% of its labels flipped (the truth kept), reclassified by
 * 3-fold transfer heads on memoised mobileface features: small enough for CI, large enough to find flips.
 */
function project(params: string, epochs = 15): string {
  return makeProject({
    'p.yaml': `version: 1
seed: 3
stages:
  faces: { type: generate-faces, params: { style: fer2013, perClass: 30, labelNoise: 0.1 } }
  merge: { type: merge, inputs: [faces] }
  reclassify:
    type: reclassify-inputs
    input: merge
    params: { folds: 3, model: { arch: transfer, headUnits: [64], epochs: ${epochs}, batchSize: 16, learningRate: 0.003 }, ${params} }
`,
  });
}

function outputs(dir: string, stage: string) {
  const store = new Store(path.join(dir, '.fer-dag'));
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile;
  const files = lock.stages[stage]!.outputs.files as Record<string, { hash: string }>;
  const read = (rel: string) => store.readBlob(files[rel]!.hash);
  return {
    files,
    read,
    json: (rel: string) => JSON.parse(read(rel).toString()),
    manifest: () =>
      read('manifest.jsonl')
        .toString()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as ManifestRecord),
  };
}

const setParams = (dir: string, from: string, to: string) =>
  fs.writeFileSync(path.join(dir, 'p.yaml'), fs.readFileSync(path.join(dir, 'p.yaml'), 'utf8').replace(from, to));

test('reclassify-inputs finds flipped labels, relabels them with their history, and reports it', async () => {
  const dir = project('policy: relabel, sheetPerClass: 4');
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const out = outputs(dir, 'reclassify');
  assert.deepEqual(Object.keys(out.files).sort(), [
    'contact-sheet.png',
    'issues.jsonl',
    'manifest.jsonl',
    'measures.json',
    'out-of-fold.jsonl',
    'report.json',
  ]);
  const before = outputs(dir, 'merge').manifest();
  const after = out.manifest();
  assert.equal(after.length, before.length, 'relabel keeps every image');

  const report = out.json('report.json');
  const source = report.sources.faces;
  assert.equal(source.rounds[0].round, 0);
  assert.ok(source.rounds.length >= 2, 'the relabelled set was retrained to score it');
  const { truth } = source;
  assert.equal(truth.mislabelled, before.filter((r) => r.label !== r.trueLabel).length);
  // Flagging at random would be right 1 time in 10 here; the demo-sized measurement is bench/reclassify.
  const baseRate = truth.mislabelled / before.length;
  assert.ok(
    truth.precision >= 4 * baseRate && truth.recall >= 0.5,
    `precision ${truth.precision} (base rate ${baseRate.toFixed(3)}), recall ${truth.recall} on ${truth.mislabelled} flips`,
  );

  // Each changed image says what it was, and the matrix and the counts agree with the manifest.
  const changed = after.filter((r, i) => r.label !== before[i]!.label);
  assert.equal(changed.length, source.relabelled);
  for (const r of changed) {
    const original = before.find((b) => b.blob === r.blob)!;
    assert.equal(r.labelHistory![0]!.from, original.label);
    assert.equal(r.labelHistory!.at(-1)!.to, r.label);
    assert.equal(r.labelHistory![0]!.stage, 'reclassify');
  }
  const offDiagonal = source.labelMatrix
    .flatMap((row: number[], i: number) => row.filter((_, j) => i !== j))
    .reduce((a: number, b: number) => a + b, 0);
  assert.equal(offDiagonal, changed.length);
  const issues = out
    .read('issues.jsonl')
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(new Set(issues.map((i) => i.blob)).size, source.issues);
  assert.ok(
    report.topIssues.every((i: { blob: string }) => after.some((r) => r.blob === i.blob)),
    'top issues name images by blob',
  );

  const probabilities = out
    .read('out-of-fold.jsonl')
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    probabilities.map((p) => p.blob),
    before.map((r) => r.blob),
  );
  assert.ok(
    probabilities.every((p) => p.p.length === 7 && Math.abs(p.p.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-3),
  );

  const sheet = await sharp(out.read('contact-sheet.png')).metadata();
  assert.equal(sheet.format, 'png');
  assert.ok(sheet.width! > 400 && sheet.height! > 7 * 96, `${sheet.width}×${sheet.height}`);
});

test('another policy or threshold retrains nothing it has trained before', async () => {
  const dir = project('policy: relabel');
  const first = await cli(dir, 'run', 'p.yaml');
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /faces: training 3 fold models/);
  const relabelled = outputs(dir, 'reclassify').files['manifest.jsonl']!.hash;
  const firstIssues = outputs(dir, 'reclassify').json('report.json').sources.faces.rounds[1].issues;

  // Report only: the labels as given were trained on in the first run; nothing changes, nothing to retrain.
  setParams(dir, 'policy: relabel', 'policy: report');
  const report = await cli(dir, 'run', 'p.yaml', '--json');
  assert.equal(report.code, 0, report.stderr);
  assert.deepEqual(executedStages(report), ['reclassify']);
  assert.doesNotMatch(report.stdout, /training 3 fold models/);
  assert.match(report.stdout, /3 fold models memoised for this labelling, none trained/);
  assert.deepEqual(
    outputs(dir, 'reclassify')
      .manifest()
      .map((r) => r.label),
    outputs(dir, 'merge')
      .manifest()
      .map((r) => r.label),
  );

  // Back to relabel with another report size: both labellings are memoised, and the output is the first run's.
  setParams(dir, 'policy: report', 'policy: relabel, topIssues: 5');
  const again = await cli(dir, 'run', 'p.yaml');
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /training 3 fold models/);
  assert.equal(outputs(dir, 'reclassify').files['manifest.jsonl']!.hash, relabelled);
  assert.equal(outputs(dir, 'reclassify').json('report.json').topIssues.length, 5);

  // A stricter threshold acts on fewer issues: a labelling never trained on, so its fold models train, on
  // the memoised features, while the labels as given are still not retrained.
  setParams(dir, 'topIssues: 5', 'minConfidence: 0.9');
  const stricter = await cli(dir, 'run', 'p.yaml');
  assert.equal(stricter.code, 0, stricter.stderr);
  assert.equal(stricter.stdout.match(/training 3 fold models/g)?.length, 1, stricter.stdout);
  assert.match(stricter.stdout, /3 fold models memoised for this labelling/);
  assert.match(stricter.stdout, /mobileface features: \d+ memoised, 0 to compute/);
  const acted = outputs(dir, 'reclassify').json('report.json').sources.faces.rounds[1].issues;
  assert.ok(acted > 0 && acted < firstIssues, `${acted} issues at p ≥ 0.9, ${firstIssues} at any p`);
});

test('oracle: pretrained trains nothing, scores every image with the FER2013 model and says it is biased', async () => {
  const dir = project('oracle: pretrained, policy: report');
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.doesNotMatch(run.stdout, /fold models/);
  const images = outputs(dir, 'merge').manifest().length;
  assert.match(run.stdout, new RegExp(`faces: 0 pretrained predictions memoised, ${images} to compute`));
  const report = outputs(dir, 'reclassify').json('report.json');
  assert.match(report.oracleNote, /FER2013/);
  assert.equal(report.sources.faces.rounds.length, 2);
  assert.equal(report.sources.faces.rounds[1].heldOutAccuracy, null, 'nothing retrained');
  assert.ok(
    report.sources.faces.rounds[0].heldOutAccuracy > 1 / 7,
    'the pretrained model beats chance on procedural faces',
  );
  assert.deepEqual(
    outputs(dir, 'reclassify')
      .manifest()
      .map((r) => r.label),
    outputs(dir, 'merge')
      .manifest()
      .map((r) => r.label),
    'report changes nothing',
  );
});

test('a run stopped during a fold keeps the folds it finished', async () => {
  // Folds train side by side, a thread each: on two or more cores 1 and 2 together, then 3. Enough epochs that a
  // fold lasts a few seconds.
  const dir = project('policy: relabel', 400);
  const child = startCli(dir, ['run', 'p.yaml', '--json']);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.resume();
  await waitFor(() => /folds? (\d and )?3 of 3/.test(stdout), 120_000, 'the third fold');
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.kill('SIGINT');
  assert.notEqual(await exited, 0);
  const resumed = await cli(dir, 'run', 'p.yaml');
  assert.equal(resumed.code, 0, resumed.stderr);
  // Fold 3 starts when the first of 1 and 2 has finished (with one thread, when both have).
  assert.match(
    resumed.stdout,
    /faces: fold [12] was trained by an earlier, interrupted run; its predictions are reused/,
  );
  assert.doesNotMatch(resumed.stdout, /fold 3 was trained by an earlier/);
});

test('a source name that is not in the input is a clear error', async () => {
  const dir = project('sources: [fer]');
  const run = await cli(dir, 'run', 'p.yaml');
  assert.notEqual(run.code, 0);
  assert.match(run.stdout + run.stderr, /sources names "fer", not a source of merge \(its sources: faces\)/);
});
