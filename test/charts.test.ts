import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import type { EpochScores } from '../ml/training/fit.js';
import { learningCurvesSpec, renderLearningCurves } from '../report/charts/learning-curves.js';
import { renderChart } from '../report/charts/render.js';

/** Six epochs where validation accuracy peaks at epoch 4, ties it at 5 and then falls back. */
const HISTORY: EpochScores[] = [
  { epoch: 1, loss: 1.9, accuracy: 0.31, valLoss: 1.95, valAccuracy: 0.3, learningRate: 1e-3 },
  { epoch: 2, loss: 1.4, accuracy: 0.45, valLoss: 1.5, valAccuracy: 0.42, learningRate: 1e-3 },
  { epoch: 3, loss: 1.1, accuracy: 0.56, valLoss: 1.3, valAccuracy: 0.5, learningRate: 1e-3 },
  { epoch: 4, loss: 0.9, accuracy: 0.64, valLoss: 1.2, valAccuracy: 0.55, learningRate: 5e-4 },
  { epoch: 5, loss: 0.75, accuracy: 0.7, valLoss: 1.22, valAccuracy: 0.55, learningRate: 5e-4 },
  { epoch: 6, loss: 0.6, accuracy: 0.76, valLoss: 1.3, valAccuracy: 0.53, learningRate: 2.5e-4 },
];

/** The text of every element in the SVG's groups of one role, e.g. `role-title-text`. */
function textsOfRole(svg: string, role: string): string[] {
  const groups = svg.match(new RegExp(`<g class="mark-text ${role}"[^>]*>.*?</g>`, 'g')) ?? [];
  return groups.flatMap((g) => [...g.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!));
}

test('the learning-curves PNG is the SVG rasterised at twice its size', async () => {
  const { png, svg } = await renderLearningCurves(HISTORY);
  const [, width, height] = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.deepEqual([meta.width, meta.height], [2 * Number(width), 2 * Number(height)]);
  assert.ok(Number(width) > 2 * Number(height), `two panels side by side, but the chart is ${width}x${height}`);
});

test('each panel has its title and a train and a validation line', async () => {
  const { svg } = await renderLearningCurves(HISTORY);
  assert.deepEqual(textsOfRole(svg, 'role-title-text'), ['Accuracy', 'Loss']);
  assert.equal(svg.match(/aria-roledescription="line mark"/g)?.length, 4);
  assert.deepEqual(textsOfRole(svg, 'role-legend-label'), ['train', 'validation']);
});

test('the best epoch is the first to reach the highest validation accuracy', async () => {
  const { svg } = await renderLearningCurves(HISTORY);
  assert.deepEqual(textsOfRole(svg, 'role-title-subtitle'), [
    'validation 0.550 at best epoch 4',
    'validation 1.200 at best epoch 4',
  ]);
  assert.equal(svg.match(/class="mark-rule role-mark /g)?.length, 2, 'a rule at the best epoch in each panel');
});

test('the same history renders to the same bytes, even after another chart', async () => {
  const first = await renderLearningCurves(HISTORY);
  await renderLearningCurves(HISTORY.slice(0, 2));
  const again = await renderLearningCurves(HISTORY);
  assert.equal(again.svg, first.svg);
  assert.ok(again.png.equals(first.png), 'PNG bytes differ between two renders of one history');
});

test('text is set in the generic sans-serif family, and Vega has nothing to warn about', async () => {
  const { svg, warnings } = await renderChart(learningCurvesSpec(HISTORY));
  assert.deepEqual([...new Set(svg.match(/font-family="[^"]*"/g))], ['font-family="sans-serif"']);
  assert.deepEqual(warnings, []);
});

test('an empty history is refused with a message that says so', async () => {
  await assert.rejects(renderLearningCurves([]), {
    message: 'learning curves need at least one epoch: the history is empty',
  });
});
