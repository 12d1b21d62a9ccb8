import * as os from 'node:os';
import type { Hash } from '../../cache/hash.js';
import type { Memo } from '../../cache/memo.js';
import { AGE_MODEL_FILES, ATTRIBUTE_PREPROCESSING, BLAZEFACE_MODEL } from '../../ml/human/model-names.js';
import type { AgrRequest, AgrResult } from './worker.js';
import { agreement, annotatedPartial, isComplete, type Attributes } from '../../datasets/attributes.js';
import { ageBucket, bucketScores, checkThresholds, type AgeThresholds } from '../../datasets/age-buckets.js';
import type { AttributePrediction, FlaggedImage } from '../../ml/human/predict-attributes.js';
import { buildAgrReport, type FailedImage } from './attribute-summary.js';
import { readManifest, writeManifest } from '../../datasets/manifest.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { humanModelFileMap } from '../../ml/human/model-files.js';
import { mapRequests } from '../../lib/parallel/map-requests.js';
import { inShard } from '../../lib/shard.js';
import { defineStage, paramsWithoutSpeedSettings, type StageContext } from '../../engine/stage.js';
import type { AgrEntry } from '../../schemas/types/agr.js';
import { ageBucketProblems } from '../../datasets/age-buckets.js';
import type { AgrParams } from './params.js';
import type { ModelPlan } from '../../ml/human/plan.js';

type ModelOutcome = AttributePrediction | FlaggedImage;

/** The human-models the stage may load, by file-name prefix in ctx.modelHashes. */
function modelNames(p: Pick<AgrParams, 'genderModel' | 'ageModel' | 'detect'>): string[] {
  const names = new Set(['gear', AGE_MODEL_FILES[p.ageModel]]);
  if (p.genderModel === 'faceres') names.add('faceres');
  if (p.detect !== 'never') names.add(BLAZEFACE_MODEL);
  return [...names].sort();
}

function wantsDetection(record: ManifestRecord, p: AgrParams): boolean {
  return p.detect === 'always' || (p.detect === 'auto' && Math.min(record.width, record.height) >= p.detectMinSide);
}

function isFlagged(outcome: ModelOutcome): outcome is FlaggedImage {
  return 'flag' in outcome;
}

const top = <K extends string>(scores: Record<K, number>): K =>
  (Object.entries(scores) as Array<[K, number]>).reduce((a, b) => (b[1] > a[1] ? b : a))[0];

function predictedAttributes(prediction: AttributePrediction, t: AgeThresholds): Attributes {
  return {
    gender: top(prediction.gender),
    age: ageBucket(prediction.ageYears, t),
    ageYears: prediction.ageYears,
    ethnicity: top(prediction.ethnicity),
  };
}

/**
 * The record as agr leaves it: attributes from the annotations, from the models, or from both where the
 * source annotated only some (`annotated` lists those, which win over the models'), or a flag and none.
 */
function withAttributes(
  record: ManifestRecord,
  given: Partial<Attributes>,
  outcome: ModelOutcome | undefined,
  t: AgeThresholds,
): ManifestRecord {
  const { gender: _g, age: _a, ageYears: _y, ethnicity: _e, attributes: _s, ...rest } = record;
  const complete = isComplete(given);
  if (!complete && outcome && isFlagged(outcome))
    return { ...rest, attributes: { from: 'models', flag: outcome.flag, faces: outcome.faces } };
  const prediction = complete ? undefined : (outcome as AttributePrediction);
  const predicted = prediction ? predictedAttributes(prediction, t) : undefined;
  // An annotated bucket without years replaces the predicted years too, so the two never disagree.
  const attributes = {
    ...predicted,
    ...given,
    ...(given.age && given.ageYears === undefined ? { ageYears: undefined } : {}),
  } as Attributes;
  const annotated = (['gender', 'age', 'ethnicity'] as const).filter((key) => given[key] !== undefined);
  return {
    ...rest,
    gender: attributes.gender,
    age: attributes.age,
    ...(attributes.ageYears !== undefined ? { ageYears: Number(attributes.ageYears.toFixed(1)) } : {}),
    ethnicity: attributes.ethnicity,
    attributes: prediction
      ? {
          from: 'models',
          ...(annotated.length ? { annotated } : {}),
          scores: {
            gender: prediction.gender,
            ethnicity: prediction.ethnicity,
            ...(prediction.ageDistribution ? { age: bucketScores(prediction.ageDistribution, t) } : {}),
          },
          ...(prediction.face ? { face: prediction.face } : {}),
        }
      : { from: 'annotations' },
  };
}

/** Predictions for `todo`, memoised per image as each request returns, so a stopped run keeps what it did. */
async function runModels(
  ctx: StageContext<AgrParams>,
  plans: Record<string, ModelPlan>,
  memo: Memo,
  todo: ManifestRecord[],
  keyOf: (r: ManifestRecord) => Record<string, unknown>,
) {
  const p = ctx.params;
  const outcomes = new Map<Hash, ModelOutcome>();
  const failed: FailedImage[] = [];
  let done = 0;
  const workers = Math.min(p.workers > 0 ? p.workers : os.availableParallelism(), Math.ceil(todo.length / p.batchSize));
  await mapRequests<AgrRequest, AgrResult>({
    script: new URL('./worker.js', import.meta.url),
    count: todo.length,
    perRequest: p.batchSize,
    workers,
    request: (indices) => ({
      backend: p.backend,
      runtime: p.runtime,
      workers,
      plans,
      options: { detector: p.detector, genderModel: p.genderModel, ageModel: p.ageModel },
      images: indices.map((i) => ({
        bytes: ctx.readBlob((todo[i] as ManifestRecord).blob),
        detect: wantsDetection(todo[i] as ManifestRecord, p),
      })),
    }),
    onReply: (indices, results) => {
      results.forEach((result, k) => {
        const record = todo[indices[k] as number] as ManifestRecord;
        if ('error' in result)
          failed.push({ source: record.source, origPath: record.origPath, blob: record.blob, error: result.error });
        else {
          memo.set(keyOf(record), result);
          outcomes.set(record.blob, result);
        }
      });
      done += indices.length;
      ctx.progress(done, todo.length, 'gender, age, ethnicity');
    },
  });
  return { outcomes, failed };
}

export const agrStage = defineStage<AgrEntry>({
  type: 'agr',
  version: '1',
  schema: 'agr.schema.json',
  produces: 'manifest',
  accepts: { input: ['manifest'] },
  checkEntry: ageBucketProblems,
  shardable: () => true,
  keyParams(params) {
    // Speed only: how images are batched and spread over threads does not change a prediction.
    const { batchSize: _b, workers: _w, ...rest } = params;
    return paramsWithoutSpeedSettings(rest);
  },
  modelFiles(params) {
    // Named even with attributes: annotations, where images without annotations are still predicted.
    return Object.assign({}, ...modelNames(params).map((name) => humanModelFileMap(name))) as Record<string, string>;
  },
  async run(ctx) {
    const p = ctx.params;
    checkThresholds(p.ageBuckets);
    const [view] = [...ctx.inputs.values()];
    const input = readManifest(view, 'agr');
    // What each record's source says about it, read once; complete annotations spare the models with
    // attributes: annotations.
    const given = new Map(input.map((r) => [r, annotatedPartial(r.annotations, p.ageBuckets)]));
    const complete = (r: ManifestRecord) => isComplete(given.get(r)!);
    const needsModels = (r: ManifestRecord) => p.attributes !== 'annotations' || !complete(r);

    // A prediction is keyed by what determines it: the image, the model files it used, how they were fed.
    const used = modelNames(p);
    const hashes = Object.fromEntries(
      Object.entries(ctx.modelHashes).filter(([file]) => used.some((name) => file.startsWith(`${name}.`))),
    );
    const todoModels = input.some(needsModels);
    let plans: Record<string, ModelPlan> = {};
    if (todoModels) {
      // tfjs-converter and protobufjs load when images need predicting, not on every CLI start.
      const [{ describePlans, planHumanModels }, { stageModelStore }] = await Promise.all([
        import('../../ml/human/plan.js'),
        import('../../ml/human/inference.js'),
      ]);
      plans = await planHumanModels(used, p.runtime, p.backend, stageModelStore(ctx));
      ctx.log(`models: ${describePlans(plans)}`);
    }
    // Runtimes round differently: a prediction made on one is not another's.
    const runtimes = Object.fromEntries(Object.values(plans).map((plan) => [plan.name, plan.runtime]));
    const keyOf = (r: ManifestRecord) => {
      const detect = wantsDetection(r, p);
      return {
        blob: r.blob,
        models: hashes,
        runtimes,
        preprocessing: ATTRIBUTE_PREPROCESSING,
        genderModel: p.genderModel,
        ageModel: p.ageModel,
        detect,
        ...(detect ? { detector: p.detector } : {}),
      };
    };
    const memo = ctx.memo('agr-prediction');
    const outcomes = new Map<Hash, ModelOutcome>();
    const todo: ManifestRecord[] = [];
    const queued = new Set<Hash>();
    for (const r of input.filter(needsModels)) {
      if (outcomes.has(r.blob) || queued.has(r.blob)) continue;
      if (ctx.shard && !inShard(r.blob, ctx.shard)) continue;
      const known = memo.get<ModelOutcome>(keyOf(r));
      if (known) outcomes.set(r.blob, known);
      else {
        todo.push(r);
        queued.add(r.blob);
      }
    }
    const memoised = outcomes.size;
    const partly =
      p.attributes === 'annotations'
        ? input.filter((r) => !complete(r) && Object.keys(given.get(r)!).length).length
        : 0;
    ctx.log(
      `${input.length} images: ${input.length - input.filter(needsModels).length} from annotations, ${memoised} predictions memoised, ${todo.length} to predict` +
        (partly
          ? ` (${partly} annotated in part, e.g. an age range across buckets: predicted, the annotated attributes kept)`
          : ''),
    );
    const ran = await runModels(ctx, plans, memo, todo, keyOf);
    if (ctx.shard) return; // a shard only memoises its predictions: the whole run writes the outputs
    for (const [blob, outcome] of ran.outcomes) outcomes.set(blob, outcome);

    const failedBlobs = new Set(ran.failed.map((f) => f.blob));
    const output: ManifestRecord[] = [];
    const pairs: Array<{ annotated: Partial<Attributes>; predicted: Attributes }> = [];
    for (const r of input) {
      if (failedBlobs.has(r.blob)) continue;
      const outcome = needsModels(r) ? outcomes.get(r.blob) : undefined;
      const annotated = given.get(r)!;
      output.push(withAttributes(r, p.attributes === 'annotations' ? annotated : {}, outcome, p.ageBuckets));
      if (p.attributes === 'both' && Object.keys(annotated).length && outcome && !isFlagged(outcome))
        pairs.push({ annotated, predicted: predictedAttributes(outcome, p.ageBuckets) });
    }
    for (const r of output) ctx.output.reference(r.blob);
    writeManifest(ctx.output, output);

    const report = buildAgrReport(output, {
      params: p,
      failed: ran.failed,
      agreement: p.attributes === 'both' ? agreement(pairs) : undefined,
    });
    ctx.output.writeJson('agr.json', report.json);
    ctx.output.writeFile('agr.md', report.markdown);
    ctx.output.writeFile('flagged.jsonl', report.flaggedLines);
    for (const f of ran.failed) ctx.log(`skipped ${f.source} ${f.origPath}: ${f.error}`);
    ctx.output.setMetrics({ imagesPredicted: todo.length, predictionsMemoised: memoised, skipped: ran.failed.length });
  },
});
