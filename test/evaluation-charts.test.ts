import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import {
  accuracyMatrixSpec,
  confusionSpec,
  renderAccuracyMatrix,
  renderConfusion,
  type AccuracyMatrix,
} from '../report/charts/evaluation.js';

/** Three models, four test sets; FER2013 on RAF-DB is the weakest cell and RAF-DB on itself the strongest. */
const MATRIX: AccuracyMatrix = {
  models: ['RAF-DB', 'FER2013', 'merged'],
  testSets: ['RAF-DB', 'FER2013', 'AffectNet', 'merged'],
  accuracy: {
    // Listed in another order than `models`, and with an extra model: neither may change the chart.
    merged: { merged: 0.7049, AffectNet: 0.553, FER2013: 0.6681, 'RAF-DB': 0.8012 },
    'RAF-DB': { 'RAF-DB': 0.8671, FER2013: 0.4408, AffectNet: 0.4995, merged: 0.6003 },
    FER2013: { 'RAF-DB': 0.1234, FER2013: 0.721, AffectNet: 0.38, merged: 0.5 },
    unused: { 'RAF-DB': 0.5 },
  },
};
/** The labels in row-major order: models top to bottom, test sets left to right. */
const LABELS = ['86.7', '44.1', '50.0', '60.0', '12.3', '72.1', '38.0', '50.0', '80.1', '66.8', '55.3', '70.5'];

/** The identity matrix of 7 classes: every image predicted as its own class. */
const DIAGONAL = Array.from({ length: 7 }, (_, i) => Array.from({ length: 7 }, (_, j) => (i === j ? 1 : 0)));

/** The inner markup of each SVG group whose class starts with `prefix`, e.g. `mark-rect role-mark`. */
function groups(svg: string, prefix: string): string[] {
  return [...svg.matchAll(new RegExp(`<g class="${prefix}[^"]*"[^>]*?(?:/>|>(.*?)</g>)`, 'g'))].map((m) => m[1] ?? '');
}

/** The text of every element in the SVG's groups of one role, e.g. `role-title-text`. */
function textsOfRole(svg: string, role: string): string[] {
  return groups(svg, `mark-text ${role}`).flatMap((g) =>
    [...g.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!),
  );
}

/** The cells of a heatmap (rects are written as paths), with their aria label, top edge and fill. */
function cells(svg: string): Array<{ label: string; y: number; fill: string }> {
  const [rects] = groups(svg, 'mark-rect role-mark');
  return [...rects!.matchAll(/<path aria-label="([^"]*)"[^>]* d="M[-\d.e]+,([-\d.e]+)[^"]*" fill="([^"]*)"/g)].map(
    (m) => ({
      label: m[1]!,
      y: Number(m[2]),
      fill: m[3]!,
    }),
  );
}

/** WCAG relative luminance of a `#rrggbb` or `rgb(r, g, b)` fill: lower is darker. */
function luminance(fill: string): number {
  const hex = /^#(..)(..)(..)$/.exec(fill);
  const channels = hex ? hex.slice(1).map((h) => parseInt(h, 16)) : (fill.match(/\d+/g) ?? []).map(Number);
  assert.equal(channels.length, 3, `cannot read the colour ${fill}`);
  const [r, g, b] = channels.map((c) => c / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

test('the accuracy matrix has one cell and one label per model and test set, in row order', async () => {
  const { svg } = await renderAccuracyMatrix(MATRIX);
  const rects = cells(svg);
  assert.equal(rects.length, 12);
  assert.deepEqual(textsOfRole(svg, 'role-mark'), LABELS);
  assert.deepEqual(textsOfRole(svg, 'role-title-text'), ['Accuracy: models × test sets']);
  assert.deepEqual(textsOfRole(svg, 'role-axis-title').sort(), ['test set', 'trained model']);
  // Rows top to bottom in the given model order, whatever order `accuracy` lists them in.
  const rowModel = rects.map((r) => /model: ([^;]*);/.exec(r.label)?.[1]);
  assert.deepEqual(rowModel, [
    'RAF-DB',
    'RAF-DB',
    'RAF-DB',
    'RAF-DB',
    'FER2013',
    'FER2013',
    'FER2013',
    'FER2013',
    'merged',
    'merged',
    'merged',
    'merged',
  ]);
  const tops = [0, 4, 8].map((i) => rects[i]!.y);
  assert.ok(tops[0]! < tops[1]! && tops[1]! < tops[2]!, `rows are not top to bottom: ${tops}`);
  assert.deepEqual(textsOfRole(svg, 'role-axis-label').slice(0, 4), ['RAF-DB', 'FER2013', 'AffectNet', 'merged']);
});

test('a higher accuracy is a darker cell, and its label turns white', async () => {
  const { svg } = await renderAccuracyMatrix(MATRIX);
  const rects = cells(svg);
  const best = luminance(rects[0]!.fill); // 86.7 %
  const mid = luminance(rects[3]!.fill); // 60.0 %
  const worst = luminance(rects[4]!.fill); // 12.3 %
  assert.ok(best < mid && mid < worst, `luminances ${best}, ${mid}, ${worst} do not fall as accuracy rises`);
  const [labels] = groups(svg, 'mark-text role-mark');
  const fills = [...labels!.matchAll(/<text[^>]* fill="([^"]*)"[^>]*>([^<]*)</g)].map((m) => [m[2], m[1]]);
  assert.deepEqual(
    fills.find(([t]) => t === '86.7'),
    ['86.7', 'white'],
  );
  assert.deepEqual(
    fills.find(([t]) => t === '12.3'),
    ['12.3', '#222222'],
  );
});

test('a missing accuracy is refused, naming the model and the test set', () => {
  const { FER2013: _dropped, ...rest } = MATRIX.accuracy['FER2013']!;
  assert.throws(() => accuracyMatrixSpec({ ...MATRIX, accuracy: { ...MATRIX.accuracy, FER2013: rest } }), {
    message: 'accuracy matrix: no accuracy for model FER2013 on test set FER2013',
  });
  assert.throws(() => accuracyMatrixSpec({ ...MATRIX, models: [...MATRIX.models, 'AffectNet'] }), {
    message: 'accuracy matrix: no accuracy for model AffectNet on test set RAF-DB',
  });
});

test('the confusion chart has a cell per class pair and labels only the shares that show', async () => {
  const { svg } = await renderConfusion('RAF-DB on FER2013', DIAGONAL);
  assert.equal(cells(svg).length, 49);
  assert.deepEqual(textsOfRole(svg, 'role-mark'), Array(7).fill('100'));
  assert.deepEqual(textsOfRole(svg, 'role-title-text'), ['RAF-DB on FER2013']);
  assert.deepEqual(textsOfRole(svg, 'role-axis-title').sort(), ['predicted', 'true']);

  // Whole percent from 0.5 % up; below it the cell is blank.
  const mixed = [
    [0.9, 0.096, 0.004],
    [0.005, 0.5, 0.49],
    [0, 0.333, 0.667],
  ];
  const small = await renderConfusion('three classes', mixed, ['a', 'b', 'c']);
  assert.equal(cells(small.svg).length, 9);
  assert.deepEqual(textsOfRole(small.svg, 'role-mark'), ['90', '10', '1', '50', '49', '33', '67']);
  assert.match(cells(small.svg)[0]!.label, /^predicted: a; true: a; /);
});

test('a confusion matrix that is not square, or does not match the classes, is refused', () => {
  const ragged = DIAGONAL.map((row, i) => (i === 3 ? row.slice(0, 6) : row));
  assert.throws(() => confusionSpec('m', ragged), {
    message: 'm: the confusion matrix is not square: row 3 (happy) has 6 columns, expected 7',
  });
  assert.throws(() => confusionSpec('m', DIAGONAL.slice(0, 6)), {
    message: 'm: the confusion matrix has 6 rows, but there are 7 classes',
  });
  assert.throws(
    () =>
      confusionSpec(
        'm',
        [
          [1, 0],
          [0, 1],
        ],
        ['a', 'b', 'c'],
      ),
    {
      message: 'm: the confusion matrix has 2 rows, but there are 3 classes',
    },
  );
  // Counts passed where shares were meant would saturate every cell.
  assert.throws(
    () =>
      confusionSpec(
        'm',
        [
          [12, 3],
          [4, 20],
        ],
        ['a', 'b'],
      ),
    {
      message: 'm: true a, predicted a: 12 is not a share between 0 and 1',
    },
  );
});

test('both PNGs are their SVG at twice the size, and Vega has nothing to warn about', async () => {
  for (const { svg, png, warnings } of [await renderAccuracyMatrix(MATRIX), await renderConfusion('c', DIAGONAL)]) {
    const [, width, height] = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height], [2 * Number(width), 2 * Number(height)]);
    assert.deepEqual(warnings, []);
  }
});

test('the same input gives the same SVG', async () => {
  const first = await renderConfusion('c', DIAGONAL);
  const matrix = await renderAccuracyMatrix(MATRIX);
  assert.equal((await renderConfusion('c', DIAGONAL)).svg, first.svg);
  assert.equal((await renderAccuracyMatrix(MATRIX)).svg, matrix.svg);
});
