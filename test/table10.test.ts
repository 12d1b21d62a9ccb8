import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CellScores, CrossEvaluationMetrics, GroupAccuracy } from '../report/evaluation-metrics.js';
import {
  accuracyMatrix,
  gainsLine,
  matrixMarkdown,
  matrixText,
  table10Html,
  table10Markdown,
} from '../report/table10.js';

const noGroups: GroupAccuracy = { groups: {}, worst: null, best: null, gapPoints: null };

function cell(accuracy: number, low: number, high: number): CellScores {
  return {
    images: 100,
    accuracy,
    macroF1: accuracy,
    intervals: { accuracy: [low, high], macroF1: [low, high] },
    perClassRecall: {},
    confusion: [],
    normalisedConfusion: [],
    groups: {
      gender: noGroups,
      age: noGroups,
      ethnicity: noGroups,
      subgroup: {
        groups: { 'f-20-29-asian': { images: 12, accuracy: 0.25 } },
        worst: 'f-20-29-asian',
        best: 'm-30-39-white',
        gapPoints: 41.66,
      },
      origin: { groups: { real: { images: 60, accuracy: 0.7 } }, worst: null, best: null, gapPoints: null },
    },
  };
}

/** Two models on two test sets; the merged model gains 12.5 points on the merged set, a real gain. */
const METRICS: CrossEvaluationMetrics = {
  classes: ['anger', 'happy'],
  models: ['gray', 'merged'],
  testSets: [
    { name: 'gray', images: 40 },
    { name: 'merged', images: 120 },
  ],
  cells: {
    gray: { gray: cell(0.6124, 0.55, 0.675), merged: cell(0.4, 0.3124, 0.4876) },
    merged: { gray: cell(0.65, 0.6, 0.7), merged: cell(0.525, 0.45, 0.6) },
  },
  generalisation: {
    testSet: 'merged',
    mergedModel: 'merged',
    gainsInPoints: { gray: { points: 12.5, interval: [4.25, 20], real: true } },
  },
};

test('table10.md and report.md show the same matrix: accuracy % with its interval, a row per model', () => {
  const lines = matrixMarkdown(METRICS);
  assert.deepEqual(lines, [
    '| model | gray (40) | merged (120) |',
    '|---|---:|---:|',
    '| gray | 61.2 [55.0, 67.5] | 40.0 [31.2, 48.8] |',
    '| merged | 65.0 [60.0, 70.0] | 52.5 [45.0, 60.0] |',
  ]);
  const markdown = table10Markdown(METRICS);
  assert.ok(markdown.includes(lines.join('\n')), markdown);
  assert.match(markdown, /^- over gray: \+12\.50 \[4\.25, 20\.00\] — real \(the interval leaves out 0\)$/m);
  // The worst subgroup with its gap to the best, then real vs generated, per model and test set.
  assert.match(markdown, /^- merged on merged: subgroup f-20-29-asian 25\.0 \(gap 41\.7\); real 70\.0, generated –$/m);
  assert.equal(gainsLine(METRICS), 'Gain of merged on merged (accuracy points): over gray 12.50 [4.25, 20.00] (real)');
});

test('the terminal and the HTML page show the same cells as the Markdown', () => {
  assert.equal(
    matrixText(METRICS),
    [
      'model          gray (40)      merged (120)',
      'gray    61.2 [55.0–67.5]  40.0 [31.2–48.8]',
      'merged  65.0 [60.0–70.0]  52.5 [45.0–60.0]',
      '',
    ].join('\n'),
  );
  const html = table10Html(METRICS, '<svg></svg>');
  assert.ok(html.includes('<tr><td>gray</td><td>61.2 [55.0, 67.5]</td><td>40.0 [31.2, 48.8]</td></tr>'), html);
  assert.ok(html.includes('<td>+12.50</td><td>[4.25, 20.00]</td><td><span class="real">real</span></td>'), html);
  assert.deepEqual(accuracyMatrix(METRICS).accuracy, {
    gray: { gray: 0.6124, merged: 0.4 },
    merged: { gray: 0.65, merged: 0.525 },
  });
});

test('with one model the page says there are no gains to compare', () => {
  const one = { ...METRICS, models: ['gray'], generalisation: { ...METRICS.generalisation, gainsInPoints: {} } };
  assert.match(table10Html(one, ''), /One model only: no gains to compare/);
  assert.doesNotMatch(table10Html(METRICS, ''), /One model only/);
});
