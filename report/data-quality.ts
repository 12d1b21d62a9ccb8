import type { CheckOutcome } from '../engine/stage.js';
import { escapeHtml, pngFigure, table } from './html.js';

/**
 * The report's "Data quality" and "Checks" sections, from plain data: what the quality stage found
 * (quality.json and its contact sheets), the leakage distribute's grouped split avoided (leakage.json), the
 * images per source and split (distribution.json), and every input's check outcomes. The report stage only
 * gathers the files; everything shown is decided here, so it can be tested without the engine.
 */

/** What of quality.json the report shows (the quality stage writes more: clusters, pairs, findings). */
export interface QualitySummary {
  images: number;
  /** source → counts: images, inClusters, noFace, severalFaces, blank, exposure, outlier, dropped. */
  sources: Record<string, Record<string, number>>;
  duplicates: { pairs: number; crossSourcePairs: number; perSourcePair: Record<string, number> };
  conflicts?: readonly unknown[];
}

/** leakage.json, written by distribute: near-duplicate pairs split apart, without and with its grouping. */
export interface Leakage {
  grouped: boolean;
  clusters: number;
  pairs: number;
  before: { crossSplitPairs: number; perSourcePair: Record<string, number> };
  after: { crossSplitPairs: number; perSourcePair: Record<string, number> };
}

/** The part of distribution.json the split table reads: source → emotion → images per split. */
export interface SplitDistribution {
  splits: Record<string, number>;
  sources: Record<string, Record<string, { splits: Record<string, number> }>>;
}

export interface DataQuality {
  qualities: Array<{ name: string; report: QualitySummary; sheets: Array<{ file: string; png: Uint8Array }> }>;
  leakages: Array<{ name: string; leakage: Leakage }>;
  splits: Array<{ name: string; distribution: SplitDistribution }>;
}

/** One input's check outcome, with the engine's one-line description of it (describeCheck). */
export interface CheckRow {
  stage: string;
  outcome: CheckOutcome;
  description: string;
}

/** The contact sheets the quality stage draws, in the order the section shows them. */
export const QUALITY_SHEETS = ['sheets/duplicates.png', 'sheets/conflicts.png', 'sheets/outliers.png'] as const;

const KINDS = ['noFace', 'severalFaces', 'blank', 'exposure', 'outlier'] as const;
const SOURCE_HEADER = ['source', 'images', 'in clusters', ...KINDS, 'dropped'];

/** Whether there is anything to show: without a quality stage or a leakage.json the section is left out. */
export const hasDataQuality = (d: DataQuality): boolean => d.qualities.length > 0 || d.leakages.length > 0;

function sourceRows(report: QualitySummary): Array<Array<string | number>> {
  return Object.entries(report.sources).map(([source, c]) => [
    source,
    c.images ?? 0,
    c.inClusters ?? 0,
    ...KINDS.map((k) => c[k] ?? 0),
    c.dropped ?? 0,
  ]);
}

function qualityLead(report: QualitySummary): string {
  const conflicts = report.conflicts ? `; ${report.conflicts.length} label conflicts` : '';
  return (
    `${report.images} images; ${report.duplicates.pairs} near-duplicate pairs ` +
    `(${report.duplicates.crossSourcePairs} across sources)${conflicts}.`
  );
}

function leakageRows(l: Leakage): Array<Array<string | number>> {
  const pairs = [...new Set([...Object.keys(l.before.perSourcePair), ...Object.keys(l.after.perSourcePair)])].sort();
  return [
    ...pairs.map((pair) => [pair, l.before.perSourcePair[pair] ?? 0, l.after.perSourcePair[pair] ?? 0]),
    ['all', l.before.crossSplitPairs, l.after.crossSplitPairs],
  ];
}

function leakageLead(l: Leakage): string {
  const how = l.grouped ? 'the split kept each cluster in one split' : 'the split did not group the clusters';
  return (
    `${l.pairs} near-duplicate pairs in ${l.clusters} clusters; ${how}. Near-duplicate pairs across splits: ` +
    `"before" in a split that ignored the clusters, "after" in the split made.`
  );
}

/** Images per source and split, summed over emotions; the columns in the order the split was written. */
export function splitCounts(d: SplitDistribution): { splits: string[]; rows: Array<Array<string | number>> } {
  const splits = Object.keys(d.splits);
  const rows = Object.entries(d.sources).map(([source, emotions]) => {
    const counts = splits.map((s) => Object.values(emotions).reduce((sum, e) => sum + (e.splits[s] ?? 0), 0));
    return [source, ...counts, counts.reduce((a, b) => a + b, 0)];
  });
  return { splits, rows };
}

/** A caption prefix naming the input, only when there are several of its kind to tell apart. */
const from = (name: string, several: boolean) => (several ? ` (${name})` : '');

export function dataQualityHtml(d: DataQuality): string {
  const parts: string[] = [];
  const h3 = (text: string) => `<h3>${escapeHtml(text)}</h3>`;
  const p = (text: string) => `<p>${escapeHtml(text)}</p>`;
  for (const q of d.qualities) {
    const of = from(q.name, d.qualities.length > 1);
    parts.push(h3(`Findings per source${of}`), p(qualityLead(q.report)), table(SOURCE_HEADER, sourceRows(q.report)));
    const pairs = Object.entries(q.report.duplicates.perSourcePair);
    if (pairs.length)
      parts.push(h3(`Near-duplicate pairs per source pair${of}`), table(['source pair', 'pairs'], pairs));
  }
  for (const l of d.leakages) {
    const of = from(l.name, d.leakages.length > 1);
    parts.push(h3(`Leakage across splits${of}`), p(leakageLead(l.leakage)));
    parts.push(table(['source pair', 'before', 'after'], leakageRows(l.leakage)));
  }
  for (const s of d.splits) {
    const { splits, rows } = splitCounts(s.distribution);
    parts.push(h3(`Images per source and split${from(s.name, d.splits.length > 1)}`));
    parts.push(table(['source', ...splits, 'all'], rows));
  }
  const figures = d.qualities.flatMap((q) =>
    q.sheets.map((s) => pngFigure('quality-sheet', s.png, `${q.name}: ${s.file}`)),
  );
  if (figures.length) parts.push(h3('Contact sheets'), figures.join(''));
  return parts.join('');
}

const mdTable = (header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string[] => [
  `| ${header.join(' | ')} |`,
  `| --- |${header
    .slice(1)
    .map(() => ' ---: |')
    .join('')}`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
];

export function dataQualityMarkdown(d: DataQuality): string[] {
  const out = ['## Data quality', ''];
  for (const q of d.qualities) {
    const of = from(q.name, d.qualities.length > 1);
    out.push(`### Findings per source${of}`, '', qualityLead(q.report), '');
    out.push(...mdTable(SOURCE_HEADER, sourceRows(q.report)), '');
    const pairs = Object.entries(q.report.duplicates.perSourcePair);
    if (pairs.length)
      out.push(`### Near-duplicate pairs per source pair${of}`, '', ...mdTable(['source pair', 'pairs'], pairs), '');
    if (q.sheets.length) out.push(`Contact sheets (in ${q.name}): ${q.sheets.map((s) => s.file).join(', ')}`, '');
  }
  for (const l of d.leakages) {
    out.push(`### Leakage across splits${from(l.name, d.leakages.length > 1)}`, '', leakageLead(l.leakage), '');
    out.push(...mdTable(['source pair', 'before', 'after'], leakageRows(l.leakage)), '');
  }
  for (const s of d.splits) {
    const { splits, rows } = splitCounts(s.distribution);
    out.push(`### Images per source and split${from(s.name, d.splits.length > 1)}`, '');
    out.push(...mdTable(['source', ...splits, 'all'], rows), '');
  }
  return out;
}

/** The failed warnings: the stage ran on, so the report is where a person sees them. */
export const checkWarnings = (rows: readonly CheckRow[]): CheckRow[] =>
  rows.filter((r) => !r.outcome.passed && r.outcome.severity === 'warn');

/** `⚠ warning (quality): check maxNoFaceShare failed: noFaceShare is 0.06, more than 0.02`. */
function flagged(r: CheckRow): string {
  return `${r.outcome.severity === 'warn' ? '⚠ warning' : '✖ error'} (${r.stage}): ${r.description}`;
}

function checkCells(r: CheckRow): Array<string | number> {
  const o = r.outcome;
  const passed = o.passed ? 'yes' : o.severity === 'warn' ? '⚠ no (warning)' : '✖ no (error)';
  return [r.stage, o.name, o.value === null ? 'not reported' : o.value, o.threshold, o.severity, passed];
}

const CHECK_HEADER = ['stage', 'check', 'value', 'threshold', 'severity', 'passed'];

export function checksHtml(rows: readonly CheckRow[]): string {
  const failed = rows.filter((r) => !r.outcome.passed);
  const list = failed.length
    ? `<ul class="check-failures">${failed.map((r) => `<li>${escapeHtml(flagged(r))}</li>`).join('')}</ul>`
    : '<p>Every check passed.</p>';
  return list + table(CHECK_HEADER, rows.map(checkCells));
}

export function checksMarkdown(rows: readonly CheckRow[]): string[] {
  const failed = rows.filter((r) => !r.outcome.passed);
  return [
    '## Checks',
    '',
    ...(failed.length ? failed.map((r) => `- ${flagged(r)}`) : ['Every check passed.']),
    '',
    ...mdTable(CHECK_HEADER, rows.map(checkCells)),
    '',
  ];
}
