import type { AccuracyMatrix } from './charts/evaluation.js';
import type { CellScores, CrossEvaluationMetrics, Gain, TestSetSize } from './evaluation-metrics.js';
import { svgFigure, table } from './html.js';

/**
 * The paper's Table 10 (accuracy of every model on every test set, with intervals, and the merged model's
 * gains), rendered for each place that shows it: cross-evaluate's table10.md, the report stage's report.html
 * and report.md, and the terminal (`fer-dag report`). Charts are drawn by the caller and passed in, so this
 * module stays light enough for the CLI to load.
 */

type Matrix = Pick<CrossEvaluationMetrics, 'models' | 'testSets' | 'cells'>;
type Table10 = Matrix & Pick<CrossEvaluationMetrics, 'generalisation'>;

const pct = (x: number) => (100 * x).toFixed(1);
const heading = (s: TestSetSize) => `${s.name} (${s.images})`;
const signed = (points: number) => `${points >= 0 ? '+' : ''}${points.toFixed(2)}`;
const interval = (gain: Gain) => `[${gain.interval[0].toFixed(2)}, ${gain.interval[1].toFixed(2)}]`;

/** `61.2 [55.0, 67.1]`: accuracy (%) and its bootstrap interval; the terminal joins the bounds with `–`. */
function accuracyWithInterval(c: CellScores, between = ', '): string {
  return `${pct(c.accuracy)} [${pct(c.intervals.accuracy[0]!)}${between}${pct(c.intervals.accuracy[1]!)}]`;
}

/** One row per model: its name, then a cell per test set. */
function modelRows(m: Matrix, between?: string): string[][] {
  return m.models.map((model) => [
    model,
    ...m.testSets.map((s) => accuracyWithInterval(m.cells[model]![s.name]!, between)),
  ]);
}

/** The accuracies alone, for the heat-map chart (renderAccuracyMatrix). */
export function accuracyMatrix(m: Matrix): AccuracyMatrix {
  const sets = m.testSets.map((s) => s.name);
  const accuracies = (model: string) => Object.fromEntries(sets.map((s) => [s, m.cells[model]![s]!.accuracy]));
  const accuracy = Object.fromEntries(m.models.map((model) => [model, accuracies(model)]));
  return { models: m.models, testSets: sets, accuracy };
}

/** The matrix as Markdown table lines (table10.md and report.md). */
export function matrixMarkdown(m: Matrix): string[] {
  return [
    `| model | ${m.testSets.map(heading).join(' | ')} |`,
    `|---|${m.testSets.map(() => '---:').join('|')}|`,
    ...modelRows(m).map(([model, ...cells]) => `| ${model} | ${cells.join(' | ')} |`),
  ];
}

/** The matrix as aligned text: what a terminal shows of Table 10. */
export function matrixText(m: Matrix): string {
  const header = ['model', ...m.testSets.map(heading)];
  const rows = modelRows(m, '–');
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => (r[i] as string).length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** table10.md: the accuracy matrix (rows: models, columns: test sets) with intervals, then the gains. */
export function table10Markdown(m: Table10): string {
  const out = ['# cross-evaluate', ''];
  out.push('Accuracy (%) with its 95 % bootstrap interval; rows: models, columns: test sets.', '');
  out.push(...matrixMarkdown(m));
  const g = m.generalisation;
  out.push('', `Gain of ${g.mergedModel} on ${g.testSet}, in accuracy points:`, '');
  for (const [model, gain] of Object.entries(g.gainsInPoints)) {
    const verdict = gain.real ? 'real (the interval leaves out 0)' : 'not shown (the interval holds 0)';
    out.push(`- over ${model}: ${signed(gain.points)} ${interval(gain)} — ${verdict}`);
  }
  out.push('', 'Worst group per model on each test set (accuracy %, gap to the best group in points):', '');
  for (const model of m.models) {
    for (const s of m.testSets) {
      const c = m.cells[model]![s.name]!;
      const sub = c.groups.subgroup;
      const origins = c.groups.origin.groups;
      const share = (k: 'real' | 'generated') => (origins[k] ? pct(origins[k].accuracy) : '–');
      if (sub.worst) {
        const worst = `${sub.worst} ${pct(sub.groups[sub.worst]!.accuracy)} (gap ${sub.gapPoints?.toFixed(1)})`;
        const realVsGenerated = `real ${share('real')}, generated ${share('generated')}`;
        out.push(`- ${model} on ${s.name}: subgroup ${worst}; ${realVsGenerated}`);
      }
    }
  }
  return out.join('\n') + '\n';
}

/** report.md's line of gains, after the matrix. */
export function gainsLine(m: Pick<CrossEvaluationMetrics, 'generalisation'>): string {
  const g = m.generalisation;
  const gains = Object.entries(g.gainsInPoints).map(
    ([model, gain]) => `over ${model} ${gain.points.toFixed(2)} ${interval(gain)}${gain.real ? ' (real)' : ''}`,
  );
  return `Gain of ${g.mergedModel} on ${g.testSet} (accuracy points): ` + gains.join('; ');
}

/** report.html's Table 10 section: the heat map (drawn by the caller), the table with intervals, the gains. */
export function table10Html(m: Table10, matrixSvg: string): string {
  const gains = Object.entries(m.generalisation.gainsInPoints).map(([model, g]) => [
    model,
    signed(g.points),
    interval(g),
    { html: g.real ? '<span class="real">real</span>' : '<span class="noise">not shown</span>' },
  ]);
  const { mergedModel, testSet } = m.generalisation;
  const caption = "accuracy (%) per trained model and test set (the paper's Table 10)";
  return (
    svgFigure('accuracy-matrix', matrixSvg, caption) +
    table(['model', ...m.testSets.map(heading)], modelRows(m), 'table10') +
    (gains.length
      ? `<p>Gain of <b>${mergedModel}</b> on <b>${testSet}</b>, in accuracy points, ` +
        'with its paired-bootstrap 95 % interval:</p>' +
        table(['over', 'gain', 'interval', 'verdict'], gains)
      : '<p>One model only: no gains to compare ' +
        "(name more train stages under the cross-evaluate stage's models:).</p>")
  );
}
