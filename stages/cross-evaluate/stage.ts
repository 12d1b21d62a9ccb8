import type { Hash } from '../../cache/hash.js';
import { inShard } from '../../lib/shard.js';
import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { defineStage, paramsWithoutSpeedSettings, type InputView } from '../../engine/stage.js';
import type { CrossEvaluateEntry } from '../../schemas/types/cross-evaluate.js';
import type { CrossEvaluationMetrics } from '../../report/evaluation-metrics.js';

export interface TestSet {
  name: string;
  records: ManifestRecord[];
}

const lines = (text: string): ManifestRecord[] =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ManifestRecord);

/**
 * The test sets an input holds: a balance-with-synthesis output gives one per source (evaluator/<source>.jsonl)
 * and `merged` (evaluator.jsonl); a dataset with a `test` split (synthesize's artificial set, distribute's
 * output) gives one named after its stage.
 */
export function testSetsOf(view: InputView): TestSet[] {
  if (view.files['evaluator.jsonl']) {
    const perSource = Object.keys(view.files)
      .filter((f) => /^evaluator\/[^/]+\.jsonl$/.test(f))
      .sort()
      .map((f) => ({ name: f.slice('evaluator/'.length, -'.jsonl'.length), records: lines(view.readText(f)) }));
    return [...perSource, { name: 'merged', records: lines(view.readText('evaluator.jsonl')) }];
  }
  if (view.files['manifest.jsonl']) {
    const test = lines(view.readText('manifest.jsonl')).filter((r) => r.split === 'test');
    if (test.length) return [{ name: view.name, records: test }];
  }
  throw new Error(
    `input "${view.name}" holds no test set: give cross-evaluate a balance-with-synthesis stage, or a dataset stage with a test split`,
  );
}

export const crossEvaluateStage = defineStage<CrossEvaluateEntry>({
  type: 'cross-evaluate',
  version: '1',
  schema: 'cross-evaluate.schema.json',
  produces: 'evaluation',
  accepts: { input: ['manifest'], inputs: ['manifest'], models: ['model'] },
  shardable: () => true,
  keyParams: paramsWithoutSpeedSettings,
  async run(ctx) {
    const p = ctx.params;
    const modelNames = (Array.isArray(ctx.entry.models) ? ctx.entry.models : []) as string[];
    if (!modelNames.length) throw new Error('cross-evaluate needs models: the train stages to evaluate');
    const testInputs = [
      typeof ctx.entry.input === 'string' ? [ctx.entry.input] : [],
      Array.isArray(ctx.entry.inputs) ? (ctx.entry.inputs as string[]) : [],
    ].flat();
    const sets = testInputs.flatMap((name) => testSetsOf(ctx.input(name)));
    const names = new Set<string>();
    for (const s of sets) {
      if (names.has(s.name))
        throw new Error(`two test sets are named "${s.name}": rename one of the stages that give them`);
      names.add(s.name);
    }
    const merged = p.mergedModel ?? modelNames[modelNames.length - 1]!;
    if (!modelNames.includes(merged))
      throw new Error(`mergedModel "${merged}" is not among models: ${modelNames.join(', ')}`);
    if (!names.has(p.summaryOn))
      throw new Error(`summaryOn "${p.summaryOn}" is not a test set here (test sets: ${[...names].join(', ')})`);

    const { modelProbabilities } = await import('../../ml/predict.js');
    const { scoreCell, generalisation } = await import('./cells.js');
    const { table10Markdown } = await import('../../report/table10.js');
    const { selectBackend } = await import('../../ml/runtime.js');
    await selectBackend(p.backend);
    const predictions = new Map<string, Map<Hash, Float32Array>>();
    let done = 0;
    const tally = { predicted: 0, memoised: 0 };
    // The merged evaluator repeats the per-source ones: each image is predicted once per model
    // (modelProbabilities dedupes).
    const examples = sets.flatMap((s) =>
      s.records.map((r) => ({ blob: r.blob, label: EMOTIONS.indexOf(r.label as Emotion), source: r.source })),
    );
    // A shard predicts its share of the images with every model (memoised per model and image) and stops.
    const shard = ctx.shard;
    const mine = shard ? examples.filter((e) => inShard(e.blob, shard)) : examples;
    for (const model of modelNames) {
      ctx.progress(done++, modelNames.length, `predicting with ${model}`);
      predictions.set(model, await modelProbabilities(ctx, ctx.input(model), mine, p.runtime, tally));
    }
    if (shard) return;
    ctx.progress(modelNames.length, modelNames.length, 'scoring');
    const cells = Object.fromEntries(
      modelNames.map((model) => [
        model,
        Object.fromEntries(
          sets.map((set) => [
            set.name,
            scoreCell(set.records, predictions.get(model)!, {
              resamples: p.resamples,
              confidence: p.confidence,
              minGroupImages: p.minGroupImages,
              random: ctx.random(`bootstrap ${model} ${set.name}`),
            }),
          ]),
        ),
      ]),
    );
    const summary = generalisation(
      sets.find((s) => s.name === p.summaryOn)!,
      merged,
      modelNames,
      predictions,
      { resamples: p.resamples, confidence: p.confidence, random: ctx.random('gains') },
    );
    const metrics: CrossEvaluationMetrics = {
      classes: EMOTIONS,
      models: modelNames,
      testSets: sets.map((s) => ({ name: s.name, images: s.records.length })),
      cells,
      generalisation: summary,
    };
    ctx.output.writeJson('metrics.json', metrics);
    ctx.output.writeFile('table10.md', table10Markdown(metrics));
    ctx.output.setMetrics({
      models: modelNames.length,
      testSets: sets.length,
      imagesPredicted: tally.predicted,
      predictionsMemoised: tally.memoised,
    });
  },
});
