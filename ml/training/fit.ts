import { EMOTIONS } from '../../datasets/vocabulary.js';
import { shuffle, type Rng } from '../../lib/random.js';
import type { Example } from './examples.js';
import type { Batch, SavedModel } from './replicas.js';

/** Where a training's batches come from: decoded images, memoised features, or rows of a matrix. */
export interface ExampleSource<E = Example> {
  readonly exampleSize: number;
  batch(examples: readonly E[], flip?: readonly boolean[]): Promise<Batch>;
}

/**
 * What trains the model: replicas on worker threads (ReplicaSet), or one replica in the calling thread
 * (LocalTrainer). Both take the same steps, so one replica of either gives the same weights.
 */
export interface Trainer {
  /** One optimisation step on a batch; the batch's mean loss and how many it classified right. */
  step(batch: Batch): Promise<{ loss: number; correct: number }>;
  /** Inference-mode loss sum, predicted classes and class probabilities (row-major, n × classes). */
  evaluate(batch: Batch): Promise<{ lossSum: number; predictions: Int32Array; probabilities: Float32Array }>;
  /** Makes every replica's batch-norm moving statistics the same (their mean). */
  syncMovingStats(): Promise<void>;
  setLearningRate(learningRate: number): Promise<void>;
  save(): Promise<SavedModel>;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Keras' ReduceLROnPlateau on the validation loss. */
  reduceLr: { factor: number; patience: number; minLearningRate: number };
  flip: boolean;
  random: Rng;
  /** Checked after every batch: an AbortSignal, or a flag another thread sets. */
  signal: { readonly aborted: boolean };
  progress(done: number, total: number, note: string): void;
  log(message: string): void;
}

/**
 * The train stage's version: bumped whenever training gives other weights for the same inputs. Memo keys of
 * models trained elsewhere (reclassify-inputs' fold models) hold it too.
 */
export const TRAINING_VERSION = '5';

/** One epoch's scores, as history.json keeps them (report/charts/learning-curves.ts draws them). */
export interface EpochScores {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  learningRate: number;
}

/** An epoch's scores plus its duration, for the log. */
export interface EpochRecord extends EpochScores {
  seconds: number;
}

export interface FitResult {
  history: EpochRecord[];
  best: { epoch: number; valAccuracy: number; model: SavedModel; confusion: number[][] };
  imagesPerSecond: number;
}

export class TrainingStopped extends Error {
  constructor(epoch: number, batch: number) {
    super(`training stopped during epoch ${epoch} after batch ${batch}; no model was kept`);
    this.name = 'AbortError';
  }
}

function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function evaluate<E>(replicas: Trainer, source: ExampleSource<E>, examples: readonly E[], batchSize: number) {
  const confusion = EMOTIONS.map(() => EMOTIONS.map(() => 0));
  let lossSum = 0;
  let correct = 0;
  for (const chunk of batchesOf(examples, batchSize * 2)) {
    const batch = await source.batch(chunk);
    const labels = batch.labels.slice();
    const result = await replicas.evaluate(batch);
    lossSum += result.lossSum;
    result.predictions.forEach((predicted, i) => {
      const actual = labels[i] as number;
      (confusion[actual] as number[])[predicted] = ((confusion[actual] as number[])[predicted] as number) + 1;
      if (predicted === actual) correct++;
    });
  }
  const n = Math.max(1, examples.length);
  return { loss: lossSum / n, accuracy: correct / n, confusion };
}

/**
 * The Table 9 training loop: shuffled mini-batches, optional horizontal flips, validation after every
 * epoch, ReduceLROnPlateau on the validation loss, and the best validation-accuracy checkpoint kept.
 * An abort stops after the batch in flight and throws, so no half-trained model reaches the store.
 */
export async function fit<E>(
  replicas: Trainer,
  source: ExampleSource<E>,
  train: readonly E[],
  validation: readonly E[],
  options: FitOptions,
): Promise<FitResult> {
  const history: EpochRecord[] = [];
  let best: FitResult['best'] | undefined;
  let learningRate = options.learningRate;
  let bestValLoss = Infinity;
  let waited = 0;
  const batchesPerEpoch = Math.ceil(train.length / options.batchSize);
  const totalBatches = batchesPerEpoch * options.epochs;
  let trainedImages = 0;
  let trainingSeconds = 0;
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const epochStart = performance.now();
    const order = shuffle(options.random, [...train]);
    let lossSum = 0;
    let correct = 0;
    const batches = batchesOf(order, options.batchSize);
    let next = source.batch(
      batches[0] ?? [],
      batches[0]?.map(() => options.flip && options.random() < 0.5),
    );
    for (let b = 0; b < batches.length; b++) {
      const batch = await next;
      const n = batch.labels.length;
      // Decode the next batch while the replicas work on this one.
      const following = batches[b + 1];
      if (following)
        next = source.batch(
          following,
          following.map(() => options.flip && options.random() < 0.5),
        );
      const stepStart = performance.now();
      const result = await replicas.step(batch);
      trainingSeconds += (performance.now() - stepStart) / 1000;
      trainedImages += n;
      lossSum += result.loss * n;
      correct += result.correct;
      const done = (epoch - 1) * batchesPerEpoch + b + 1;
      options.progress(
        done,
        totalBatches,
        `epoch ${epoch}/${options.epochs}, loss ${(lossSum / (b * options.batchSize + n)).toFixed(3)}`,
      );
      if (options.signal.aborted) {
        if (following) await next.catch(() => undefined);
        throw new TrainingStopped(epoch, b + 1);
      }
    }
    await replicas.syncMovingStats();
    const val = await evaluate(replicas, source, validation, options.batchSize);
    const record: EpochRecord = {
      epoch,
      loss: lossSum / Math.max(1, train.length),
      accuracy: correct / Math.max(1, train.length),
      valLoss: val.loss,
      valAccuracy: val.accuracy,
      learningRate,
      seconds: (performance.now() - epochStart) / 1000,
    };
    history.push(record);
    options.log(
      `epoch ${epoch}/${options.epochs}: loss ${record.loss.toFixed(4)} acc ${record.accuracy.toFixed(4)} · val_loss ${record.valLoss.toFixed(4)} val_acc ${record.valAccuracy.toFixed(4)} · lr ${learningRate.toExponential(2)} · ${record.seconds.toFixed(1)} s`,
    );
    if (!best || val.accuracy > best.valAccuracy) {
      best = { epoch, valAccuracy: val.accuracy, model: await replicas.save(), confusion: val.confusion };
    }
    if (val.loss < bestValLoss - 1e-4) {
      // Keras' min_delta
      bestValLoss = val.loss;
      waited = 0;
    } else if (++waited >= options.reduceLr.patience && learningRate > options.reduceLr.minLearningRate) {
      learningRate = Math.max(options.reduceLr.minLearningRate, learningRate * options.reduceLr.factor);
      waited = 0;
      await replicas.setLearningRate(learningRate);
      options.log(
        `validation loss has not improved for ${options.reduceLr.patience} epochs: learning rate now ${learningRate.toExponential(2)}`,
      );
    }
  }
  if (!best) throw new Error('no epoch was trained');
  return { history, best, imagesPerSecond: trainedImages / Math.max(1e-9, trainingSeconds) };
}
