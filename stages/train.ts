import * as path from 'node:path';
import { EMOTIONS } from './formats/emotions.js';
import type { ManifestRecord } from './merge.js';
import { humanModelFiles } from './model/human-model-files.js';
import type { BackendChoice } from './model/runtime.js';
import type { Example, TrainOn } from './training/examples.js';
import type { ExampleSource } from './training/fit.js';
import type { ModelSpec } from './training/model-spec.js';
import type { StageContext, StageDefinition, StageEntry } from './types.js';

export interface TrainParams {
  arch: 'paper-cnn' | 'transfer';
  trainOn: TrainOn;
  splits: string[];
  inputSize: number;
  channels: 1 | 3;
  width: number;
  dropout: number;
  batchNormMomentum: number;
  backbone: 'mobileface' | 'faceres';
  headUnits: number[];
  epochs: number;
  batchSize: number;
  learningRate: number;
  reduceLr: { factor: number; patience: number; minLearningRate: number };
  validationSplit: number;
  flip: boolean;
  backend: BackendChoice;
  replicas: number;
  cacheMegabytes: number;
}

function readManifest(ctx: StageContext<TrainParams>): ManifestRecord[] {
  const [view] = [...ctx.inputs.values()];
  if (!view?.files['manifest.jsonl']) throw new Error(`train needs a dataset stage as input (one with a manifest.jsonl); "${view?.name}" has none`);
  return view.readText('manifest.jsonl').split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as ManifestRecord);
}

/** The model to train and where its examples come from, by arch. */
async function prepareArch(ctx: StageContext<TrainParams>, examples: readonly Example[]): Promise<{ spec: ModelSpec; source: ExampleSource; flip: boolean }> {
  const p = ctx.params;
  if (p.arch === 'paper-cnn') {
    const { PixelSource } = await import('./training/examples.js');
    const spec: ModelSpec = { arch: 'paper-cnn', inputSize: p.inputSize, channels: p.channels, width: p.width, dropout: p.dropout, batchNormMomentum: p.batchNormMomentum, classes: EMOTIONS.length };
    return { spec, source: new PixelSource((hash) => ctx.readBlob(hash), p, p.cacheMegabytes), flip: p.flip };
  }
  const { backboneFeatures } = await import('./training/features.js');
  const features = await backboneFeatures(ctx, p.backbone, examples);
  const spec: ModelSpec = { arch: 'transfer-head', featureSize: features.featureSize, units: p.headUnits, classes: EMOTIONS.length, dropout: p.dropout, batchNormMomentum: p.batchNormMomentum };
  return { spec, source: features.source, flip: false };
}

export const trainStage: StageDefinition<TrainParams> = {
  type: 'train',
  // Bumped whenever the trained weights for the same key change: this stage, the training loop, fused Adam,
  // FastBatchNorm/FastDropout, or a wasm kernel's summation order (stages/model/wasm-kernels.ts).
  version: '3',
  schema: 'train.schema.json',
  params: (entry: StageEntry) => entry.params as TrainParams,
  keyParams(entry: StageEntry) {
    // As the engine's default (the input enters the key by its output hash), less the cache size.
    const { cacheMegabytes: _speedOnly, ...params } = entry.params as TrainParams;
    return { params };
  },
  modelFiles(entry: StageEntry) {
    const params = entry.params as Partial<TrainParams> | undefined;
    if (params?.arch !== 'transfer') return {};
    const files = humanModelFiles(params.backbone ?? 'mobileface');
    return { [`${params.backbone ?? 'mobileface'}.json`]: files.json, ...Object.fromEntries(files.bin.map((f) => [path.basename(f), f])) };
  },
  async run(ctx) {
    const p = ctx.params;
    // tfjs and the image codecs load only when a model is trained, not on every CLI start.
    const [{ ReplicaSet }, { selectExamples, splitValidation }, { fit }, { storeSaveHandler }] = await Promise.all([
      import('./training/replicas.js'), import('./training/examples.js'), import('./training/fit.js'), import('./model/store-io.js')]);
    const records = readManifest(ctx);
    const examples = selectExamples(records, p.trainOn, p.splits);
    if (examples.length < 2) throw new Error(`trainOn ${JSON.stringify(p.trainOn)} with splits ${p.splits.join(', ')} leaves ${examples.length} images to train on`);
    const { train, validation } = splitValidation(examples, p.validationSplit, ctx.random('validation split'));
    const { spec, source, flip } = await prepareArch(ctx, examples);
    const replicas = await ReplicaSet.start({ spec, replicas: p.replicas, backend: p.backend, seed: ctx.seed, learningRate: p.learningRate, exampleSize: source.exampleSize });
    ctx.log(`training ${spec.arch} (${replicas.parameters.toLocaleString('en')} parameters) on ${train.length} images, validating on ${validation.length}, ` +
      `backend ${replicas.backend}, ${replicas.size} replica${replicas.size > 1 ? 's' : ''}${replicas.skipped.length ? ` (passed over: ${replicas.skipped.join('; ')})` : ''}`);
    let result;
    try {
      result = await fit(replicas, source, train, validation, {
        epochs: p.epochs, batchSize: p.batchSize, learningRate: p.learningRate, reduceLr: p.reduceLr, flip,
        random: ctx.random('batches'), signal: ctx.signal,
        progress: (done, total, note) => ctx.progress(done, total, note), log: (message) => ctx.log(message),
      });
    } finally {
      await replicas.close();
    }
    const { history, best } = result;
    const metadata = { classes: [...EMOTIONS], arch: p.arch, ...(p.arch === 'transfer' ? { backbone: p.backbone } : { inputSize: p.inputSize, channels: p.channels }) };
    const saver = storeSaveHandler(ctx.output, 'model', metadata);
    await saver.save?.(best.model as never);
    ctx.output.writeJson('history.json', history.map(({ seconds: _timing, ...epoch }) => epoch));
    const { renderLearningCurves } = await import('./charts/learning-curves.js');
    ctx.output.writeFile('learning-curves.png', (await renderLearningCurves(history)).png);
    const perClassTrain = Object.fromEntries(EMOTIONS.map((e, i) => [e, train.filter((x) => x.label === i).length]));
    const metrics = {
      arch: p.arch, backend: replicas.backend, passedOver: replicas.skipped, replicas: replicas.size, parameters: replicas.parameters,
      images: { train: train.length, validation: validation.length, perClassTrain },
      bestEpoch: best.epoch, valAccuracy: best.valAccuracy, classes: [...EMOTIONS], valConfusion: best.confusion,
    };
    ctx.output.writeJson('metrics.json', metrics);
    ctx.output.setMetrics({
      backend: replicas.backend, replicas: replicas.size, bestEpoch: best.epoch, valAccuracy: Number(best.valAccuracy.toFixed(4)),
      trainImages: train.length, imagesPerSecond: Number(result.imagesPerSecond.toFixed(1)),
    });
  },
};
