import { EMOTIONS } from '../../datasets/vocabulary.js';
import { describeCheck } from '../../engine/checks.js';
import { defineStage, type InputView } from '../../engine/stage.js';
import type { ReportEntry } from '../../schemas/types/report.js';
import type { CrossEvaluationMetrics, Grouping } from '../../report/evaluation-metrics.js';
import type { SourceReclassification } from '../../report/reclassification.js';
import type { AcceptanceReport, BalanceDeficits } from '../../report/synthesis.js';
import * as dq from '../../report/data-quality.js';

/** What each kind of input contributes, recognised by the files it holds rather than by its stage type. */
interface Found {
  cross?: { name: string; metrics: CrossEvaluationMetrics };
  trains: Array<{ name: string; curves?: Uint8Array; valAccuracy?: number }>;
  distributions: Array<{ name: string; plots: Array<{ file: string; png: Uint8Array }> }>;
  balances: Array<{ name: string; markdown: string; deficits: BalanceDeficits; acceptance: AcceptanceReport }>;
  reclassifies: Array<{ name: string; report: { sources: Record<string, SourceReclassification> } }>;
  quality: dq.DataQuality;
  checks: dq.CheckRow[];
}

function gather(inputs: ReadonlyMap<string, InputView>): Found {
  const found: Found = {
    trains: [],
    distributions: [],
    balances: [],
    reclassifies: [],
    quality: { qualities: [], leakages: [], splits: [] },
    checks: [],
  };
  for (const [name, view] of inputs) {
    const json = (file: string) => JSON.parse(view.readText(file)) as unknown;
    for (const outcome of view.checks ?? [])
      found.checks.push({ stage: name, outcome, description: describeCheck(outcome) });
    // A quality stage; its output is a manifest too, so it is recognised before and beside the kinds below.
    if (view.files['quality.json']) {
      found.quality.qualities.push({
        name,
        report: json('quality.json') as dq.QualitySummary,
        sheets: dq.QUALITY_SHEETS.filter((file) => view.files[file]).map((file) => ({
          file,
          png: view.readFile(file),
        })),
      });
    }
    if (view.files['leakage.json']) found.quality.leakages.push({ name, leakage: json('leakage.json') as dq.Leakage });
    if (view.files['metrics.json']) {
      const metrics = json('metrics.json') as Partial<CrossEvaluationMetrics> & { valAccuracy?: number };
      if (metrics.cells && metrics.generalisation) {
        if (found.cross)
          throw new Error(
            `two cross-evaluate stages among the inputs (${found.cross.name}, ${name}): a report shows one`,
          );
        found.cross = { name, metrics: metrics as CrossEvaluationMetrics };
        continue;
      }
      if (view.files['model/model.json']) {
        found.trains.push({
          name,
          ...(view.files['learning-curves.png'] ? { curves: view.readFile('learning-curves.png') } : {}),
          ...(metrics.valAccuracy !== undefined ? { valAccuracy: metrics.valAccuracy } : {}),
        });
        continue;
      }
    }
    if (view.files['distribution.json']) {
      const plots = Object.keys(view.files)
        .filter((f) => f.startsWith('plots/') && f.endsWith('.png'))
        .sort()
        .map((file) => ({ file, png: view.readFile(file) }));
      found.distributions.push({ name, plots });
      found.quality.splits.push({ name, distribution: json('distribution.json') as dq.SplitDistribution });
    } else if (view.files['deficits.json'] && view.files['acceptance.json']) {
      found.balances.push({
        name,
        markdown: view.files['balance.md'] ? view.readText('balance.md') : '',
        deficits: json('deficits.json') as BalanceDeficits,
        acceptance: json('acceptance.json') as AcceptanceReport,
      });
    } else if (view.files['report.json'] && view.files['issues.jsonl']) {
      found.reclassifies.push({
        name,
        report: json('report.json') as { sources: Record<string, SourceReclassification> },
      });
    }
  }
  if (!found.cross)
    throw new Error('a report needs a cross-evaluate stage among its inputs (inputs: [cross-evaluate stage, …])');
  return found;
}

const pct = (x: number) => (100 * x).toFixed(1);

export const reportStage = defineStage<ReportEntry>({
  type: 'report',
  // 3: the Data quality and Checks sections (a report whose inputs have checks changes for the same inputs).
  version: '3',
  schema: 'report.schema.json',
  produces: 'report',
  accepts: { inputs: ['evaluation', 'model', 'manifest'] },
  // It shows its inputs' check outcomes: their checks are then part of its key (engine/material.ts).
  readsChecks: true,
  async run(ctx) {
    const found = gather(ctx.inputs);
    const { page, pngFigure, svgFigure, table } = await import('../../report/html.js');
    const { renderAccuracyMatrix, renderConfusion } = await import('../../report/charts/evaluation.js');
    const m = found.cross!.metrics;
    const sets = m.testSets.map((s) => s.name);
    const sections: Array<{ id: string; title: string; html: string }> = [];

    const { accuracyMatrix, gainsLine, matrixMarkdown, table10Html } = await import('../../report/table10.js');
    const matrix = await renderAccuracyMatrix(accuracyMatrix(m));
    sections.push({
      id: 'table10',
      title: 'Accuracy of every model on every test set',
      html: table10Html(m, matrix.svg),
    });

    const fairnessRows = m.models.flatMap((model) =>
      sets.map((s) => {
        const g = m.cells[model]![s]!.groups;
        const worst = (key: Grouping) =>
          g[key]?.worst
            ? `${g[key]!.worst} ${pct(g[key]!.groups[g[key]!.worst!]!.accuracy)} (gap ${g[key]!.gapPoints?.toFixed(1)})`
            : '–';
        const origin = (k: string) => (g.origin?.groups[k] ? pct(g.origin.groups[k]!.accuracy) : '–');
        return [
          model,
          s,
          worst('gender'),
          worst('age'),
          worst('ethnicity'),
          worst('subgroup'),
          origin('real'),
          origin('generated'),
        ];
      }),
    );
    sections.push({
      id: 'fairness',
      title: 'Who the models fail: worst groups, and real vs generated images',
      html: table(
        [
          'model',
          'test set',
          'worst gender',
          'worst age',
          'worst ethnicity',
          'worst subgroup',
          'real %',
          'generated %',
        ],
        fairnessRows,
      ),
    });

    const confusions: string[] = [];
    for (const model of m.models) {
      for (const s of sets)
        confusions.push(
          svgFigure(
            'confusion',
            (await renderConfusion(`${model} on ${s}`, m.cells[model]![s]!.normalisedConfusion, EMOTIONS)).svg,
            `${model} on ${s}: rows true, columns predicted`,
          ),
        );
    }
    sections.push({ id: 'confusion', title: 'Confusion matrices (row-normalised)', html: confusions.join('') });

    if (found.trains.length) {
      sections.push({
        id: 'training',
        title: 'Learning curves',
        html: found.trains
          .map((t) =>
            t.curves
              ? pngFigure(
                  'learning-curves',
                  t.curves,
                  `${t.name}${t.valAccuracy !== undefined ? `: best validation accuracy ${pct(t.valAccuracy)} %` : ''}`,
                )
              : '',
          )
          .join(''),
      });
    }
    if (found.distributions.length) {
      sections.push({
        id: 'distribution',
        title: 'Gender, age, ethnicity and subgroups',
        html: found.distributions
          .flatMap((d) => d.plots.map((p) => pngFigure('distribution', p.png, `${d.name}: ${p.file}`)))
          .join(''),
      });
    }
    if (dq.hasDataQuality(found.quality)) {
      sections.push({ id: 'data-quality', title: 'Data quality', html: dq.dataQualityHtml(found.quality) });
    }
    for (const b of found.balances) {
      sections.push({
        id: `balance-${b.name}`,
        title: `The balanced evaluator (${b.name})`,
        html:
          table(
            ['source', 'real images', 'holes', 'filled'],
            Object.entries(b.deficits.sources).map(([s, d]) => [s, d.real, d.totalHoles, d.totalFilled]),
          ) +
          table(
            ['emotion', 'attempts', 'accepted', 'acceptance'],
            Object.entries(b.acceptance.perEmotion).map(([e, a]) => [
              e,
              a.attempts,
              a.accepted,
              a.acceptanceRate === null ? '–' : `${pct(a.acceptanceRate)} %`,
            ]),
          ),
      });
    }
    for (const r of found.reclassifies) {
      sections.push({
        id: `reclassify-${r.name}`,
        title: `Reclassification (${r.name})`,
        html: table(
          [
            'source',
            'images',
            'issues',
            'relabelled',
            'pruned',
            'held-out accuracy, first → last kept round',
            'precision / recall vs truth',
          ],
          Object.entries(r.report.sources).map(([s, x]) => {
            const kept = x.rounds.filter((round) => round.kept && round.heldOutAccuracy !== null);
            return [
              s,
              x.images,
              x.issues,
              x.relabelled,
              x.pruned,
              kept.length ? `${kept[0]!.heldOutAccuracy} → ${kept.at(-1)!.heldOutAccuracy}` : '–',
              x.truth ? `${x.truth.precision} / ${x.truth.recall}` : '–',
            ];
          }),
        ),
      });
    }

    // Last, as a table to look things up in; a failed warning is also said in the lead, where it is seen first.
    const warnings = dq.checkWarnings(found.checks).length;
    if (found.checks.length) sections.push({ id: 'checks', title: 'Checks', html: dq.checksHtml(found.checks) });

    const lead = `${m.models.length} models × ${sets.length} test sets, from stage ${found.cross!.name}`;
    const warned = warnings ? ` — ⚠ ${warnings} check warning${warnings > 1 ? 's' : ''} (see Checks)` : '';
    const html = page('fer-dag report', lead + warned, sections);
    ctx.output.writeFile('report.html', html);
    // checkWarnings is added only where there are checks, so a report without any writes the same file as before.
    ctx.output.writeJson('metrics.json', found.checks.length ? { ...m, checkWarnings: warnings } : m);
    const md = [
      `# fer-dag report`,
      '',
      ...matrixMarkdown(m),
      '',
      gainsLine(m),
      '',
      ...found.balances.map((b) => b.markdown),
      ...(dq.hasDataQuality(found.quality) ? ['', ...dq.dataQualityMarkdown(found.quality)] : []),
      ...(found.checks.length ? ['', ...dq.checksMarkdown(found.checks)] : []),
    ];
    ctx.output.writeFile('report.md', md.join('\n') + '\n');
    ctx.output.setMetrics({
      charts: (html.match(/<figure class="chart"/g) ?? []).length,
      sections: sections.length,
      checkWarnings: warnings,
    });
  },
});
