import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Store } from '../cache/store.js';
import type { Lockfile } from '../engine/lockfile.js';
import { EMOTIONS } from '../datasets/vocabulary.js';
import { cli, executedStages, makeProject } from './helpers.js';
import { openInChromium } from './browser.js';

const PIPELINE = (resamples: number) => `version: 1
seed: 6
stages:
  gray: { type: generate-faces, params: { style: fer2013, perClass: 12 } }
  colour: { type: generate-faces, params: { style: affectnet, perClass: 8, size: 64, contempt: 0 } }
  merge: { type: merge, inputs: [gray, colour] }
  agr: { type: agr, input: merge, params: { attributes: annotations } }
  distribute: { type: distribute, input: agr }
  evaluator: { type: balance-with-synthesis, input: distribute, params: { perSubgroup: 1, width: 128, height: 128, checks: { emotion: { enabled: false }, attributes: [] } } }
  train-gray: { type: train, input: evaluator, params: { trainOn: [gray], epochs: 2, width: 0.125, inputSize: 24, batchSize: 16 } }
  train-merged: { type: train, input: evaluator, params: { epochs: 2, width: 0.125, inputSize: 24, batchSize: 16 } }
  cross: { type: cross-evaluate, input: evaluator, models: [train-gray, train-merged], params: { resamples: ${resamples}, minGroupImages: 5 } }
  report: { type: report, inputs: [cross, train-gray, train-merged, distribute, evaluator] }
`;

test("cross-evaluate scores every model on every source's evaluator and the merged one, and a rescoring predicts nothing again", async () => {
  const dir = makeProject({ 'p.yaml': PIPELINE(200) });
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const store = new Store(path.join(dir, '.fer-dag'));
  const entry = () => (JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile).stages.cross!;
  const files = entry().outputs.files as Record<string, { hash: string }>;
  const metrics = JSON.parse(store.readBlob(files['metrics.json']!.hash).toString());
  assert.deepEqual(metrics.testSets, [
    { name: 'colour', images: 280 },
    { name: 'gray', images: 280 },
    { name: 'merged', images: 560 },
  ]);
  for (const model of ['train-gray', 'train-merged']) {
    for (const set of ['colour', 'gray', 'merged']) {
      const cell = metrics.cells[model][set];
      const diagonal = cell.confusion.reduce((sum: number, row: number[], i: number) => sum + row[i]!, 0);
      assert.equal(cell.images, metrics.testSets.find((s: { name: string }) => s.name === set).images);
      assert.equal(
        cell.accuracy,
        Number((diagonal / cell.images).toFixed(4)),
        `${model} on ${set}: accuracy is the confusion's diagonal`,
      );
      assert.ok(cell.intervals.accuracy[0] <= cell.accuracy && cell.accuracy <= cell.intervals.accuracy[1]);
      assert.deepEqual(Object.keys(cell.perClassRecall), [...EMOTIONS]);
      // Every test image is in exactly one gender group and is either real or generated.
      const inGroups = (g: { groups: Record<string, { images: number }> }) =>
        Object.values(g.groups).reduce((n, x) => n + x.images, 0);
      assert.equal(inGroups(cell.groups.gender), cell.images);
      assert.equal(inGroups(cell.groups.origin), cell.images);
    }
  }
  const gain = metrics.generalisation.gainsInPoints['train-gray'];
  const merged = metrics.cells['train-merged'].merged.accuracy;
  const gray = metrics.cells['train-gray'].merged.accuracy;
  assert.ok(Math.abs(gain.points - 100 * (merged - gray)) < 0.02, 'the gain is the difference of the two accuracies');
  assert.ok(
    gain.interval[0] <= gain.points && gain.points <= gain.interval[1],
    'the paired interval holds the observed gain',
  );
  const table = store.readBlob(files['table10.md']!.hash).toString();
  assert.match(table, /\| train-merged \| [\d.]+ \[[\d.]+, [\d.]+\] \| [\d.]+ \[/);
  const first = store.getRecord(entry().key)!.metrics as { imagesPredicted: number; predictionsMemoised: number };
  assert.equal(first.imagesPredicted, 2 * 560);

  // More resamples: cross-evaluate reruns alone, from memoised predictions.
  fs.writeFileSync(path.join(dir, 'p.yaml'), PIPELINE(300));
  const again = await cli(dir, 'run', 'p.yaml', '--json');
  assert.deepEqual(executedStages(again), ['cross', 'report']);
  assert.deepEqual(store.getRecord(entry().key)!.metrics, {
    ...first,
    imagesPredicted: 0,
    predictionsMemoised: 2 * 560,
  });

  // The report: `fer-dag report` copies it out and prints the matrix; headless Chromium renders every chart.
  const shown = await cli(dir, 'report', 'p.yaml');
  assert.equal(shown.code, 0, shown.stderr);
  const html = /^report: (.+\.html)$/m.exec(shown.stdout)![1]!;
  assert.match(shown.stdout, /^train-merged\s+[\d.]+ \[[\d.]+–[\d.]+\]\s+[\d.]+ \[/m);
  const selectors = {
    matrix: 'figure.chart[data-chart="accuracy-matrix"] svg',
    confusion: 'figure.chart[data-chart="confusion"] svg',
    curves: 'figure.chart[data-chart="learning-curves"] img',
    distribution: 'figure.chart[data-chart="distribution"] img',
    table10: 'table.table10 tbody tr',
  };
  const page = await openInChromium(html, path.join(dir, 'report.png'), Object.values(selectors));
  assert.equal(page.counts[selectors.matrix], 1);
  assert.equal(page.counts[selectors.confusion], 2 * 3, 'a confusion heatmap per model × test set');
  assert.equal(page.counts[selectors.curves], 2);
  assert.equal(page.counts[selectors.distribution], 4, 'attribute shares and subgroup heatmap per source');
  assert.equal(page.counts[selectors.table10], 2);
  assert.equal(page.brokenImages, 0);
  assert.ok(fs.statSync(path.join(dir, 'report.png')).size > 20_000, 'a screenshot of the rendered page');
});
