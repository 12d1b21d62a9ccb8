import { selectBackend, type BackendChoice } from '../runtime.js';
import type { Trainer } from './fit.js';
import type { ModelSpec } from './model-spec.js';
import { Replica } from './replica.js';
import type { Batch, SavedModel } from './replicas.js';

/**
 * One replica trained in the calling thread: what a small model wants. A transfer head's step is a few
 * milliseconds of tfjs dispatch, and a replica worker adds two messages a step to it; a thread that trains a
 * whole model alone (a cross-validation fold, fold-worker.ts) sends none. It takes the same steps as a
 * ReplicaSet of one replica, so the two give the same weights.
 */
export class LocalTrainer implements Trainer {
  private constructor(private readonly replica: Replica) {}

  /** Selects the tfjs backend in this thread, then builds the model from `seed`. */
  static async start(options: {
    spec: ModelSpec;
    backend: BackendChoice;
    seed: number;
    learningRate: number;
  }): Promise<LocalTrainer> {
    await selectBackend(options.backend);
    const replica = new Replica(options.spec, options.seed, 0, options.learningRate);
    const size = replica.parameters;
    replica.share({
      gradients: new SharedArrayBuffer(4 * size),
      weights: new SharedArrayBuffer(4 * size),
      from: 0,
      to: size,
    });
    return new LocalTrainer(replica);
  }

  async step(batch: Batch): Promise<{ loss: number; correct: number }> {
    const n = batch.labels.length;
    const { lossSum, correct } = this.replica.gradients(batch.x, batch.labels, 0);
    this.replica.reduce(1, n);
    return { loss: lossSum / n, correct };
  }

  async evaluate(batch: Batch) {
    return this.replica.evaluate(batch.x, batch.labels);
  }

  async syncMovingStats(): Promise<void> {}

  async setLearningRate(learningRate: number): Promise<void> {
    this.replica.setLearningRate(learningRate);
  }

  save(): Promise<SavedModel> {
    return this.replica.save();
  }

  dispose(): void {
    this.replica.dispose();
  }
}
