import { availableParallelism } from 'node:os';
import { WorkerPool } from '../../lib/parallel/pool.js';
import type { BackendChoice } from '../runtime.js';
import { nativeThreads } from '../backend-choice.js';
import type { FitOptions } from './fit.js';
import type { ModelSpec } from './model-spec.js';

/**
 * One model to train on rows of a feature matrix, alone in a worker thread (fold-worker.ts): a
 * cross-validation fold. Its examples are row numbers; the rows, like the labels, are the whole source's.
 */
export interface FoldJob {
  spec: ModelSpec;
  backend: BackendChoice;
  /** The model's initial weights and dropout masks. */
  seed: number;
  /** The epochs' shuffles. */
  fitSeed: number;
  learningRate: number;
  /** Rows × exampleSize float32, shared by every job of a round rather than copied to each. */
  features: SharedArrayBuffer;
  exampleSize: number;
  labels: Int32Array;
  train: Int32Array;
  validation: Int32Array;
  /** The rows to predict with the trained model: one row of `spec.classes` probabilities each comes back. */
  heldOut: Int32Array;
  fit: Pick<FitOptions, 'epochs' | 'batchSize' | 'learningRate' | 'reduceLr'>;
  /** Stop flag and progress counters (controlViews), read by the main thread without messages. */
  control: SharedArrayBuffer;
  slots: number;
  slot: number;
}

/** The control buffer: a stop flag, then each slot's batches done and batches in all. */
export function controlViews(control: SharedArrayBuffer, slots: number) {
  return {
    stop: new Int32Array(control, 0, 1),
    done: new Int32Array(control, 4, slots),
    total: new Int32Array(control, 4 * (1 + slots), slots),
  };
}

export interface FoldRound {
  /** Rows × exampleSize features and one label per row. */
  features: Float32Array;
  exampleSize: number;
  labels: Int32Array;
  spec: ModelSpec;
  backend: BackendChoice;
  fit: FoldJob['fit'];
  folds: Array<{ seed: number; fitSeed: number; train: number[]; validation: number[]; heldOut: number[] }>;
  signal: AbortSignal;
  /** Called with each fold's held-out probabilities as it finishes. */
  onFold(fold: number, probabilities: Float32Array): void;
  /** Batches trained over all folds, of how many, and the folds training now (1-based). */
  progress(done: number, total: number, training: number[]): void;
}

/**
 * Worker threads that each train one small model at a time, start to finish, with no message per step: a
 * transfer head's step costs a few milliseconds of tfjs dispatch, and the two messages a step of a replica
 * worker, the main thread's batch assembly and the threads' start per round were as much again. Folds are
 * independent models, each from its own seeds, so which thread trains which fold changes nothing. The threads
 * stay up between rounds and sources (their start and JIT warm-up are paid once per stage).
 */
export class FoldPool {
  private readonly pool: WorkerPool<FoldJob, Float32Array>;

  /**
   * Threads for `folds` folds: one per core, or per FER_DAG_NATIVE_THREADS cores where each trains with that many
   * oneDNN threads; never more than the folds.
   */
  static forFolds(folds: number): FoldPool {
    return new FoldPool(Math.max(1, Math.min(folds, Math.floor(availableParallelism() / nativeThreads()))));
  }

  constructor(readonly size: number) {
    this.pool = new WorkerPool<FoldJob, Float32Array>(new URL('./fold-worker.js', import.meta.url), size, 1);
  }

  /** Trains every fold of a round, as many at once as there are threads. */
  async train(round: FoldRound): Promise<void> {
    const slots = round.folds.length;
    const control = new SharedArrayBuffer(4 * (1 + 2 * slots));
    const views = controlViews(control, slots);
    const features = new SharedArrayBuffer(round.features.byteLength);
    new Float32Array(features).set(round.features);
    const stop = () => Atomics.store(views.stop, 0, 1);
    round.signal.addEventListener('abort', stop);
    if (round.signal.aborted) stop();
    const training = new Set<number>();
    const report = () => {
      const total = views.total.reduce((sum, t) => Math.max(sum, t), 0) * slots;
      if (total)
        round.progress(
          views.done.reduce((a, b) => a + b, 0),
          total,
          [...training].map((s) => s + 1),
        );
    };
    const timer = setInterval(report, 250);
    let next = 0;
    // The first failure in time: the folds it stops fail after it, saying only that they stopped.
    let failure: { error: unknown } | undefined;
    // As many folds in flight as threads, so each goes to an idle one.
    const lane = async () => {
      while (next < slots && !Atomics.load(views.stop, 0)) {
        const slot = next++;
        const fold = round.folds[slot]!;
        training.add(slot);
        try {
          const probabilities = await this.pool.run({
            spec: round.spec,
            backend: round.backend,
            seed: fold.seed,
            fitSeed: fold.fitSeed,
            learningRate: round.fit.learningRate,
            features,
            exampleSize: round.exampleSize,
            labels: round.labels,
            train: Int32Array.from(fold.train),
            validation: Int32Array.from(fold.validation),
            heldOut: Int32Array.from(fold.heldOut),
            fit: round.fit,
            control,
            slots,
            slot,
          });
          round.onFold(slot, probabilities);
        } catch (error) {
          failure ??= { error };
          stop(); // the other folds stop after their batch in flight
        } finally {
          training.delete(slot);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.size, slots) }, lane));
      if (round.signal.aborted) throw Object.assign(new Error('cross-validation stopped'), { name: 'AbortError' });
      if (failure) throw failure.error;
      report();
    } finally {
      clearInterval(timer);
      round.signal.removeEventListener('abort', stop);
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
