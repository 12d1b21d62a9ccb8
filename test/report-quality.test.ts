import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeCheck, type CheckOutcome } from '../engine/checks.js';
import type { InputView, StageContext } from '../engine/stage.js';
import {
  checksHtml,
  checksMarkdown,
  checkWarnings,
  dataQualityHtml,
  dataQualityMarkdown,
  hasDataQuality,
  splitCounts,
  type CheckRow,
  type DataQuality,
  type Leakage,
  type QualitySummary,
  type SplitDistribution,
} from '../report/data-quality.js';
import type { CellScores, CrossEvaluationMetrics, GroupAccuracy } from '../report/evaluation-metrics.js';
import { reportStage } from '../stages/report/stage.js';
import { memoryView } from './helpers.js';

/**
 * The report's Data quality and Checks sections: the renderers on plain data, then the report stage on
 * in-memory inputs (a cross-evaluate output, a quality output with a failed warning, a distribute output).
 */

const QUALITY: QualitySummary = {
  images: 300,
  sources: {
    affectnet: {
      images: 100,
      inClusters: 6,
      noFace: 2,
      severalFaces: 1,
      blank: 0,
      exposure: 3,
      outlier: 4,
      dropped: 2,
    },
    fer2013: { images: 200, inClusters: 20, noFace: 9, severalFaces: 0, blank: 1, exposure: 0, outlier: 5, dropped: 1 },
  },
  duplicates: { pairs: 19, crossSourcePairs: 7, perSourcePair: { 'affectnet × fer2013': 7, 'fer2013 × fer2013': 12 } },
  conflicts: [{}, {}],
};

const LEAKAGE: Leakage = {
  grouped: true,
  clusters: 116,
  pairs: 230,
  before: { crossSplitPairs: 41, perSourcePair: { 'affectnet × fer2013': 7, 'fer2013 × fer2013': 12 } },
  after: { crossSplitPairs: 0, perSourcePair: {} },
};

const DISTRIBUTION: SplitDistribution = {
  splits: { train: 0.8, test: 0.2 },
  sources: {
    affectnet: { anger: { splits: { train: 8, test: 2 } }, happy: { splits: { train: 16, test: 4 } } },
    fer2013: { anger: { splits: { train: 40, test: 10 } }, happy: { splits: { train: 0, test: 1 } } },
  },
};

const SHEETS = ['sheets/duplicates.png', 'sheets/conflicts.png', 'sheets/outliers.png'];
const png = (n: number) => new Uint8Array([0x89, 0x50, 0x4e, 0x47, n]);

const DATA: DataQuality = {
  qualities: [{ name: 'quality', report: QUALITY, sheets: SHEETS.map((file, i) => ({ file, png: png(i) })) }],
  leakages: [{ name: 'distribute', leakage: LEAKAGE }],
  splits: [{ name: 'distribute', distribution: DISTRIBUTION }],
};

const outcome = (o: Partial<CheckOutcome> & Pick<CheckOutcome, 'name' | 'measure'>): CheckOutcome => ({
  comparison: 'max',
  threshold: 0.02,
  severity: 'warn',
  value: 0.06,
  passed: false,
  ...o,
});
const row = (stage: string, o: CheckOutcome): CheckRow => ({ stage, outcome: o, description: describeCheck(o) });

test('splitCounts sums each source over emotions, a column per split in the order written', () => {
  assert.deepEqual(splitCounts(DISTRIBUTION), {
    splits: ['train', 'test'],
    rows: [
      ['affectnet', 24, 6, 30],
      ['fer2013', 40, 11, 51],
    ],
  });
});

test('the Data quality section: counts per source, pairs per source pair, leakage, splits and three sheets', () => {
  const html = dataQualityHtml(DATA);
  assert.match(html, /<td>affectnet<\/td><td>100<\/td><td>6<\/td><td>2<\/td><td>1<\/td><td>0<\/td><td>3<\/td>/);
  assert.match(html, /<td>affectnet × fer2013<\/td><td>7<\/td><\/tr>/, 'pairs per source pair');
  assert.match(html, /<td>fer2013 × fer2013<\/td><td>12<\/td><td>0<\/td>/, 'leakage: before, after');
  assert.match(html, /<td>all<\/td><td>41<\/td><td>0<\/td>/, 'leakage: the totals');
  assert.match(html, /<td>fer2013<\/td><td>40<\/td><td>11<\/td><td>51<\/td>/, 'images per source and split');
  const figures = [...html.matchAll(/<figure class="chart" data-chart="quality-sheet"><img alt="([^"]+)" src="data:/g)];
  assert.deepEqual(
    figures.map((f) => f[1]),
    SHEETS.map((s) => `quality: ${s}`),
  );
  assert.match(html, /2 label conflicts/);

  const md = dataQualityMarkdown(DATA).join('\n');
  assert.match(md, /^## Data quality$/m);
  assert.match(md, /^\| affectnet \| 100 \| 6 \| 2 \| 1 \| 0 \| 3 \| 4 \| 2 \|$/m);
  assert.match(md, /^\| all \| 41 \| 0 \|$/m);
  assert.match(md, /^\| source \| train \| test \| all \|$/m);
  assert.match(md, /sheets\/duplicates\.png, sheets\/conflicts\.png, sheets\/outliers\.png/);
});

test('without a quality stage or leakage.json there is no Data quality section', () => {
  assert.equal(hasDataQuality({ qualities: [], leakages: [], splits: [DATA.splits[0]!] }), false);
  assert.equal(hasDataQuality({ qualities: [], leakages: DATA.leakages, splits: [] }), true);
});

test('the Checks table marks a failed warning as a warning, with the engine’s description', () => {
  const rows = [
    row('quality', outcome({ name: 'maxNoFaceShare', measure: 'noFaceShare' })),
    row('quality', outcome({ name: 'maxBlankImages', measure: 'blankImages', threshold: 5, value: 1, passed: true })),
    row('distribute', outcome({ name: 'minImages', measure: 'images', comparison: 'min', threshold: 1, value: null })),
  ];
  assert.equal(checkWarnings(rows).length, 2);
  const html = checksHtml(rows);
  assert.match(
    html,
    /<li>⚠ warning \(quality\): check maxNoFaceShare failed: noFaceShare is 0\.06, more than 0\.02<\/li>/,
  );
  assert.match(html, /<li>⚠ warning \(distribute\): check minImages failed: the stage did not report images<\/li>/);
  assert.match(html, /<td>quality<\/td><td>maxBlankImages<\/td><td>1<\/td><td>5<\/td><td>warn<\/td><td>yes<\/td>/);
  assert.match(html, /<td>not reported<\/td>/);
  const md = checksMarkdown(rows).join('\n');
  assert.match(md, /^- ⚠ warning \(quality\): check maxNoFaceShare failed/m);
  assert.match(md, /^\| quality \| maxNoFaceShare \| 0\.06 \| 0\.02 \| warn \| ⚠ no \(warning\) \|$/m);
  assert.match(checksHtml([rows[1]!]), /Every check passed/);
});

// ---- the stage itself, on in-memory inputs ----

const noGroups: GroupAccuracy = { groups: {}, worst: null, best: null, gapPoints: null };
const identity = Array.from({ length: 7 }, (_, i) => Array.from({ length: 7 }, (_, j) => (i === j ? 1 : 0)));
const cell: CellScores = {
  images: 10,
  accuracy: 0.5,
  macroF1: 0.5,
  intervals: { accuracy: [0.4, 0.6], macroF1: [0.4, 0.6] },
  perClassRecall: {},
  confusion: identity,
  normalisedConfusion: identity,
  groups: { gender: noGroups, age: noGroups, ethnicity: noGroups, subgroup: noGroups, origin: noGroups },
};
const CROSS: CrossEvaluationMetrics = {
  classes: ['anger', 'happy'],
  models: ['merged'],
  testSets: [{ name: 'merged', images: 10 }],
  cells: { merged: { merged: cell } },
  generalisation: { testSet: 'merged', mergedModel: 'merged', gainsInPoints: {} },
};

const bytes = (text: string) => new Uint8Array(Buffer.from(text));
function view(name: string, files: Record<string, string | Uint8Array>, checks?: CheckOutcome[]): InputView {
  const map = new Map(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? bytes(v) : v]));
  const v = memoryView(name, `tree-${name}`, map);
  return checks ? ({ ...v, files: v.files, checks } as InputView) : v;
}

async function runReport(
  inputs: InputView[],
): Promise<{ files: Map<string, string>; metrics: Record<string, unknown> }> {
  const files = new Map<string, string>();
  let metrics: Record<string, unknown> = {};
  const write = (rel: string, data: string | Uint8Array) => {
    files.set(rel, typeof data === 'string' ? data : Buffer.from(data).toString());
    return rel;
  };
  const ctx = {
    stage: 'report',
    params: {},
    entry: { type: 'report', inputs: inputs.map((i) => i.name) },
    inputs: new Map(inputs.map((i) => [i.name, i])),
    output: {
      writeFile: write,
      writeJson: (rel: string, value: unknown) => write(rel, JSON.stringify(value)),
      setMetrics: (m: Record<string, unknown>) => (metrics = m),
    },
  } as unknown as StageContext<never>;
  await reportStage.run(ctx as never);
  return { files, metrics };
}

test('the report stage shows the Data quality and Checks sections, and counts the warnings', async () => {
  const { files, metrics } = await runReport([
    view('cross', { 'metrics.json': JSON.stringify(CROSS) }),
    view(
      'quality',
      {
        'manifest.jsonl': '',
        'quality.json': JSON.stringify(QUALITY),
        ...Object.fromEntries(SHEETS.map((s, i) => [s, png(i)])),
      },
      [outcome({ name: 'maxNoFaceShare', measure: 'noFaceShare' })],
    ),
    view('distribute', {
      'manifest.jsonl': '',
      'distribution.json': JSON.stringify(DISTRIBUTION),
      'leakage.json': JSON.stringify(LEAKAGE),
    }),
  ]);
  const html = files.get('report.html')!;
  assert.match(html, /<section id="data-quality"><h2>Data quality<\/h2>/);
  assert.match(html, /<section id="checks"><h2>Checks<\/h2>/);
  assert.match(html, /⚠ warning \(quality\): check maxNoFaceShare failed: noFaceShare is 0\.06, more than 0\.02/);
  assert.match(html, /⚠ 1 check warning \(see Checks\)/, 'the lead says there is a warning');
  assert.equal((html.match(/data-chart="quality-sheet"/g) ?? []).length, 3);
  assert.match(files.get('report.md')!, /^## Checks$/m);
  assert.match(files.get('report.md')!, /^## Data quality$/m);
  assert.equal((JSON.parse(files.get('metrics.json')!) as { checkWarnings: number }).checkWarnings, 1);
  assert.equal(metrics.checkWarnings, 1);
});

test('without quality, leakage or checks: neither section, and metrics.json is cross-evaluate’s', async () => {
  const { files, metrics } = await runReport([
    view('cross', { 'metrics.json': JSON.stringify(CROSS) }),
    view('distribute', { 'manifest.jsonl': '', 'distribution.json': JSON.stringify(DISTRIBUTION) }),
  ]);
  const html = files.get('report.html')!;
  assert.doesNotMatch(html, /id="data-quality"|id="checks"|check warning/);
  assert.doesNotMatch(files.get('report.md')!, /Data quality|Checks/);
  assert.deepEqual(JSON.parse(files.get('metrics.json')!), CROSS);
  assert.equal(metrics.checkWarnings, 0);
});
