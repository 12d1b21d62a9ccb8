import * as path from 'node:path';
import type { Store } from '../cache/store.js';
import { stageInputView } from '../engine/context.js';
import type { Pipeline, StageSpec } from '../engine/spec/pipeline.js';
import { decodeImage } from '../datasets/images/prepare.js';
import { toChannels, type Raster } from '../datasets/images/raster.js';
import { readManifest } from '../datasets/manifest.js';
import { selectExamples } from '../ml/training/examples.js';
import type { TrainEntry } from '../schemas/types/train.js';
import type { InputView } from '../engine/stage.js';

/** A model the server can use: the train stage's output, and a few of the images it was trained on. */
export interface ServedModel {
  stage: string;
  view: InputView;
  /** Up to `sampleSize` training images (RGB), spread over the training set; for measuring their framing. */
  trainingSample: Raster[];
}

/** A missing or unusable model; the CLI prints the message and exits. */
export class ModelChoiceError extends Error {}

/** A train stage's params: the loader validated its entry against train.schema.json and filled in the defaults. */
const trainParams = (stage: StageSpec): TrainEntry['params'] => (stage.entry as unknown as TrainEntry).params;

/**
 * The train stage `fer-dag serve` uses when none is named: the one trained on every source (trainOn: all),
 * which is the paper's merged model; when there are several, the one named like "merged".
 */
export function defaultModelStage(pipeline: Pipeline): string {
  const trains = [...pipeline.stages.values()].filter((s) => s.type === 'train');
  const file = path.relative(process.cwd(), pipeline.file);
  if (!trains.length)
    throw new ModelChoiceError(`${file} has no train stage: add one (see the README, "type: train") and run it first`);
  const onAll = trains.filter((s) => trainParams(s).trainOn === 'all');
  const named = onAll.filter((s) => /merged/i.test(s.name));
  const pick = onAll.length === 1 ? onAll : named.length === 1 ? named : trains.length === 1 ? trains : [];
  if (pick.length === 1) return pick[0]!.name;
  throw new ModelChoiceError(
    `${file} has ${trains.length} train stages (${trains.map((s) => s.name).join(', ')}) and none is clearly the merged model; name one with --model`,
  );
}

/**
 * Loads what serving needs from the store. `recordOf` gives a fresh stage's record or throws naming what to
 * run (the CLI's freshRecord); the model stage and its input dataset must both be fresh.
 */
export async function servedModel(
  pipeline: Pipeline,
  store: Store,
  stage: string,
  recordOf: (stage: string) => Promise<{ outputs: InputView['files']; treeHash: string }>,
  sampleSize = 48,
): Promise<ServedModel> {
  const spec = pipeline.stages.get(stage);
  if (!spec)
    throw new ModelChoiceError(
      `--model ${stage}: no such stage in ${path.relative(process.cwd(), pipeline.file)} (stages: ${pipeline.order.join(', ')})`,
    );
  if (spec.type !== 'train')
    throw new ModelChoiceError(
      `--model ${stage}: it is a ${spec.type} stage; name a train stage (${
        [...pipeline.stages.values()]
          .filter((s) => s.type === 'train')
          .map((s) => s.name)
          .join(', ') || 'the pipeline has none'
      })`,
    );
  const record = await recordOf(stage);
  const view = stageInputView(store, stage, record.outputs, record.treeHash as InputView['treeHash']);
  const trainingSample: Raster[] = [];
  const inputName = spec.namedInputs[0];
  if (inputName && pipeline.stages.has(inputName)) {
    const input = await recordOf(inputName);
    const records = readManifest(
      stageInputView(store, inputName, input.outputs, input.treeHash as InputView['treeHash']),
      stage,
    );
    const params = trainParams(spec);
    const examples = selectExamples(records, params.trainOn, params.splits);
    const blobs = [...new Set(examples.map((e) => e.blob))].sort();
    const count = Math.min(sampleSize, blobs.length);
    for (let k = 0; k < count; k++) {
      try {
        trainingSample.push(
          toChannels(await decodeImage(store.readBlob(blobs[Math.floor((k * blobs.length) / count)]!)), 3),
        );
      } catch {
        // An image that does not decode says nothing about framing; the sample is only a sample.
      }
    }
  }
  return { stage, view, trainingSample };
}
