import { TRAINING_VERSION } from '../../ml/training/fit.js';
import { ONNX_EXPORT_VERSION } from '../../ml/training/export-version.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { readManifest } from '../../datasets/manifest.js';
import { humanModelFileMap } from '../../ml/human/model-files.js';
import { defineStage, paramsWithoutSpeedSettings, type StageContext } from '../../engine/stage.js';
import type { ModelMetadata } from '../../ml/model-files.js';
import type { TrainEntry } from '../../schemas/types/train.js';
import { resolveBackendChoice } from '../../ml/backend-choice.js';

export const trainStage = defineStage<TrainEntry>({
  type: 'train',
  // TRAINING_VERSION is bumped whenever the trained weights for the same key change: this stage, the training
  // loop, fused Adam, FastBatchNorm/FastDropout, or a wasm kernel's summation order (stages/model/wasm-kernels.ts).
  // The suffix (ml/training/export-version.ts) is this stage's alone: it changes when model.onnx does but the
  // weights do not. reclassify-inputs' fold memo keys on TRAINING_VERSION, and its fold models, which never
  // leave that stage, need no ONNX file, so they stay memoised.
  version: `${TRAINING_VERSION}+onnx${ONNX_EXPORT_VERSION}`,
  schema: 'train.schema.json',
  produces: 'model',
  accepts: { input: ['manifest'] },
  // A transfer model's backbone features are per-image work: under run --queue they are computed in shards.
  shardable: (params) => params.arch === 'transfer',
  // The backend `auto` comes to here is part of the key: each rounds its own way.
  keyParams: (params) => ({ ...paramsWithoutSpeedSettings(params), backend: resolveBackendChoice(params.backend) }),
  modelFiles: (params) => humanModelFileMap(params.arch === 'transfer' ? params.backbone : undefined),
  async run(ctx) {
    const p = ctx.params;
    // tfjs and the image codecs load only when a model is trained, not on every CLI start.
    const [{ ReplicaSet }, { selectExamples, splitValidation }, { fit }, { storeSaveHandler, TRAINED_ONNX_FILE }] =
      await Promise.all([
        import('../../ml/training/replicas.js'),
        import('../../ml/training/examples.js'),
        import('../../ml/training/fit.js'),
        import('../../ml/model-files.js'),
      ]);
    const { prepareArch } = await import('../../ml/training/prepare.js');
    const records = readManifest([...ctx.inputs.values()][0], 'train');
    // A distributed dataset brings its own validation split; anything else has a share of its training images held out.
    const held =
      records.some((r) => r.split === p.validationFrom) && p.splits.includes(p.validationFrom)
        ? p.validationFrom
        : undefined;
    const trainSplits = p.splits.filter((s) => s !== held);
    const fromSplits = held
      ? {
          train: selectExamples(records, p.trainOn, trainSplits),
          validation: selectExamples(
            records.filter((r) => r.split === held),
            p.trainOn,
            [held],
          ),
        }
      : undefined;
    const examples = fromSplits
      ? [...fromSplits.train, ...fromSplits.validation]
      : selectExamples(records, p.trainOn, p.splits);
    if (examples.length < 2)
      throw new Error(
        `trainOn ${JSON.stringify(p.trainOn)} with splits ${p.splits.join(', ')} leaves ${examples.length} images to train on`,
      );
    const { train, validation } =
      fromSplits ?? splitValidation(examples, p.validationSplit, ctx.random('validation split'));
    if (train.length === 0 || validation.length === 0)
      throw new Error(
        `${held ? `the ${held} split` : `validationSplit ${p.validationSplit}`} leaves ${train.length} images to train on and ${validation.length} to validate on`,
      );
    const { spec, source, flip } = await prepareArch(ctx as StageContext<unknown>, p, p, examples);
    if (ctx.shard) return; // a shard only memoises its images' features: the whole run trains
    const replicas = await ReplicaSet.start({
      spec,
      replicas: p.replicas,
      backend: p.backend,
      seed: ctx.seed,
      learningRate: p.learningRate,
      exampleSize: source.exampleSize,
    });
    ctx.log(
      `training ${spec.arch} (${replicas.parameters.toLocaleString('en')} parameters) on ${train.length} images, validating on ${validation.length}${held ? ` (the ${held} split)` : ''}, ` +
        `backend ${replicas.backend}, ${replicas.size} replica${replicas.size > 1 ? 's' : ''}${replicas.skipped.length ? ` (passed over: ${replicas.skipped.join('; ')})` : ''}`,
    );
    let result;
    try {
      result = await fit(replicas, source, train, validation, {
        epochs: p.epochs,
        batchSize: p.batchSize,
        learningRate: p.learningRate,
        reduceLr: p.reduceLr,
        flip,
        random: ctx.random('batches'),
        signal: ctx.signal,
        progress: (done, total, note) => ctx.progress(done, total, note),
        log: (message) => ctx.log(message),
      });
    } finally {
      await replicas.close();
    }
    const { history, best } = result;
    const metadata: ModelMetadata = {
      classes: [...EMOTIONS],
      arch: p.arch,
      ...(p.arch === 'transfer' ? { backbone: p.backbone } : { inputSize: p.inputSize, channels: p.channels }),
    };
    // A copy: tfjs' metadata type wants an index signature, which the interface's type does not have.
    const saver = storeSaveHandler(ctx.output, 'model', { ...metadata });
    await saver.save?.(best.model as never);
    const { exportSavedModel } = await import('../../ml/training/export-onnx.js');
    ctx.output.writeFile(TRAINED_ONNX_FILE, await exportSavedModel(best.model, metadata));
    ctx.output.writeJson(
      'history.json',
      history.map(({ seconds: _timing, ...epoch }) => epoch),
    );
    const { renderLearningCurves } = await import('../../report/charts/learning-curves.js');
    ctx.output.writeFile('learning-curves.png', (await renderLearningCurves(history)).png);
    const perClassTrain = Object.fromEntries(EMOTIONS.map((e, i) => [e, train.filter((x) => x.label === i).length]));
    const metrics = {
      arch: p.arch,
      backend: replicas.backend,
      passedOver: replicas.skipped,
      replicas: replicas.size,
      parameters: replicas.parameters,
      images: { train: train.length, validation: validation.length, perClassTrain },
      bestEpoch: best.epoch,
      valAccuracy: best.valAccuracy,
      classes: [...EMOTIONS],
      valConfusion: best.confusion,
    };
    ctx.output.writeJson('metrics.json', metrics);
    ctx.output.setMetrics({
      backend: replicas.backend,
      replicas: replicas.size,
      bestEpoch: best.epoch,
      valAccuracy: Number(best.valAccuracy.toFixed(4)),
      trainImages: train.length,
      imagesPerSecond: Number(result.imagesPerSecond.toFixed(1)),
    });
  },
});
