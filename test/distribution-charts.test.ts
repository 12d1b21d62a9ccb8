import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import {
  attributeSharesSpec,
  renderAttributeShares,
  renderSubgroupHeatmap,
  subgroupNames,
  type AttributeCounts,
  type SubgroupCell,
} from '../report/charts/distribution.js';
import { EMOTIONS } from '../datasets/vocabulary.js';

/** No `others` at all, so one bar of the ethnicity panel is a zero bar; `old` is left out rather than given as 0. */
const COUNTS: AttributeCounts = {
  gender: { female: 620, male: 380 },
  age: { child: 150, young: 250, adult: 600 },
  ethnicity: { white: 540, black: 120, asian: 260, indian: 80, others: 0 },
};

/**
 * Every emotion × subgroup cell with a count that varies, some of them 0: all old subgroups have no disgust,
 * every 13th cell is 0, and every 17th cell is left out (and so also empty).
 */
function heatmapCells(): { cells: SubgroupCell[]; empty: number } {
  const cells: SubgroupCell[] = [];
  let empty = 0;
  EMOTIONS.forEach((emotion, e) =>
    subgroupNames().forEach((subgroup, s) => {
      const k = e * 40 + s;
      const count = (emotion === 'disgust' && subgroup.includes('-old-')) || k % 13 === 0 ? 0 : 1 + ((k * 37) % 900);
      if (count === 0 || k % 17 === 0) empty++;
      if (k % 17 !== 0) cells.push({ emotion, subgroup, count });
    }),
  );
  return { cells, empty };
}

/** The inner markup of each SVG group whose class starts with `prefix`, e.g. `mark-rect role-mark`. */
function groups(svg: string, prefix: string): string[] {
  // A mark with no items is written as a self-closing group, which has no inner markup.
  return [...svg.matchAll(new RegExp(`<g class="${prefix}[^"]*"[^>]*?(?:/>|>(.*?)</g>)`, 'g'))].map((m) => m[1] ?? '');
}

/** The text of every element in the SVG's groups of one role, e.g. `role-title-text`. */
function textsOfRole(svg: string, role: string): string[] {
  return groups(svg, `mark-text ${role}`).flatMap((g) =>
    [...g.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!),
  );
}

/** The drawn shapes of one mark group, with their aria label, fill and height (rects are written as paths). */
function shapes(group: string): Array<{ label: string; fill: string; height: number }> {
  return [...group.matchAll(/<path aria-label="([^"]*)"[^>]* d="M[^h]*h[^v]*v([-\d.e]+)h[^"]*" fill="([^"]*)"/g)].map(
    (m) => ({
      label: m[1]!,
      height: Number(m[2]),
      fill: m[3]!,
    }),
  );
}

/** Which channel dominates a `#rrggbb` or `rgb(r, g, b)` fill. */
function hue(fill: string): 'red' | 'blue' | 'other' {
  const hex = /^#(..)(..)(..)$/.exec(fill);
  const [r, g, b] = hex ? hex.slice(1).map((h) => parseInt(h, 16)) : (fill.match(/\d+/g) ?? []).map(Number);
  if (r! > g! && r! > b!) return 'red';
  return b! > r! && b! >= g! ? 'blue' : 'other';
}

test('there are 40 subgroups, gender first, then age, then ethnicity', () => {
  const names = subgroupNames();
  assert.equal(names.length, 40);
  assert.equal(new Set(names).size, 40);
  assert.deepEqual(names.slice(0, 6), [
    'female-child-white',
    'female-child-black',
    'female-child-asian',
    'female-child-indian',
    'female-child-others',
    'female-young-white',
  ]);
  assert.equal(names[20], 'male-child-white');
  assert.equal(names[39], 'male-old-others');
});

test('the attribute chart has a gender, an age and an ethnicity panel, with a bar for every value', async () => {
  const { svg } = await renderAttributeShares('RAF-DB', COUNTS);
  assert.deepEqual(textsOfRole(svg, 'role-title-text').sort(), [
    'Age',
    'Ethnicity',
    'Gender',
    'RAF-DB: gender, age and ethnicity',
  ]);
  const bars = groups(svg, 'mark-rect role-mark').map(shapes);
  assert.deepEqual(
    bars.map((panel) => panel.length),
    [2, 4, 5],
    '2 + 4 + 5 = 11 bars, zero bars included',
  );
  assert.deepEqual(
    bars.map((panel) => panel.map((b) => /^value: (\w+);/.exec(b.label)?.[1])),
    [
      ['female', 'male'],
      ['child', 'young', 'adult', 'old'],
      ['white', 'black', 'asian', 'indian', 'others'],
    ],
  );
});

test("each bar is its value's share of the images, on a 0-100 axis, and carries its count", async () => {
  const { svg } = await renderAttributeShares('RAF-DB', COUNTS);
  const [gender, age, ethnicity] = groups(svg, 'mark-rect role-mark').map((g) => shapes(g).map((b) => b.height));
  const plotHeight = 200; // the panels' height: 100 % of the images
  const expected = [
    [62, 38],
    [15, 25, 60, 0],
    [54, 12, 26, 8, 0],
  ];
  [gender!, age!, ethnicity!].forEach((heights, i) =>
    heights.forEach((h, j) =>
      assert.ok(Math.abs(h - (plotHeight * expected[i]![j]!) / 100) < 0.01, `panel ${i} bar ${j}: ${h}`),
    ),
  );
  // Taller bar, larger count: the heights rank the values as the counts do.
  assert.ok(ethnicity![0]! > ethnicity![2]! && ethnicity![2]! > ethnicity![1]! && ethnicity![1]! > ethnicity![3]!);
  const labels = groups(svg, 'mark-text role-mark').flatMap((g) =>
    [...g.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]),
  );
  assert.deepEqual(labels.sort(), ['0', '0', '120', '250', '260', '380', '540', '600', '620', '80', '150'].sort());
});

test('an attribute value outside the vocabulary is refused, naming it', () => {
  assert.throws(() => attributeSharesSpec('RAF-DB', { ...COUNTS, gender: { female: 1, nonbinary: 2 } }), {
    message: 'RAF-DB: unknown gender nonbinary (expected female, male)',
  });
});

test('the heatmap has one cell per emotion and subgroup, missing cells drawn as empty', async () => {
  const { cells, empty } = heatmapCells();
  assert.ok(cells.length < 280, 'the fixture leaves some cells out');
  const { svg } = await renderSubgroupHeatmap('RAF-DB', cells);
  const [rects] = groups(svg, 'mark-rect role-mark').map(shapes);
  assert.equal(rects!.length, 280);
  assert.deepEqual(textsOfRole(svg, 'role-title-text'), ['RAF-DB: images per emotion × subgroup']);
  assert.deepEqual(textsOfRole(svg, 'role-title-subtitle'), [`${empty} of 280 cells are empty (red)`]);
  assert.equal(rects!.filter((r) => r.label.endsWith('; images: 0')).length, empty);
  // Rows in canonical emotion order, columns in subgroup order.
  assert.match(rects![0]!.label, /^subgroup: female-child-white; emotion: angry; /);
  assert.match(rects![279]!.label, /^subgroup: male-old-others; emotion: surprise; /);
});

test('an empty cell is filled unlike every cell that has images', async () => {
  const { cells } = heatmapCells();
  // One image is the smallest count there is, the one whose shade comes closest to an empty cell's.
  const withOne = cells.map((c, i) => (i === 1 ? { ...c, count: 1 } : c));
  const { svg } = await renderSubgroupHeatmap('RAF-DB', withOne);
  const rects = shapes(groups(svg, 'mark-rect role-mark')[0]!);
  const emptyFills = new Set(rects.filter((r) => r.label.endsWith('; images: 0')).map((r) => r.fill));
  const fullFills = new Set(rects.filter((r) => !r.label.endsWith('; images: 0')).map((r) => r.fill));
  assert.equal(emptyFills.size, 1, 'all empty cells look alike');
  assert.ok(
    ![...emptyFills].some((f) => fullFills.has(f)),
    `empty fill ${[...emptyFills]} is also used by a non-empty cell`,
  );
  assert.ok(fullFills.size > 10, 'non-empty cells are shaded by their count');
  // Not merely another shade of the ramp: the empty cells are red, every other cell is blue.
  assert.ok(
    [...emptyFills].every((f) => hue(f) === 'red'),
    `empty fill ${[...emptyFills]} is not red`,
  );
  assert.deepEqual([...new Set([...fullFills].map(hue))], ['blue']);
});

test('both PNGs are their SVG at twice the size, and Vega has nothing to warn about', async () => {
  const charts = [
    await renderAttributeShares('RAF-DB', COUNTS),
    await renderSubgroupHeatmap('RAF-DB', heatmapCells().cells),
  ];
  for (const { svg, png, warnings } of charts) {
    const [, width, height] = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height], [2 * Number(width), 2 * Number(height)]);
    assert.deepEqual(warnings, []);
  }
});

test('the same cells give the same SVG, in whatever order they are passed', async () => {
  const { cells } = heatmapCells();
  const first = await renderSubgroupHeatmap('RAF-DB', cells);
  await renderAttributeShares('RAF-DB', COUNTS);
  const again = await renderSubgroupHeatmap('RAF-DB', [...cells].reverse());
  assert.equal(again.svg, first.svg);
});
