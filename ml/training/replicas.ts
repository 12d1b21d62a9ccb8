import { WorkerPool } from '../../lib/parallel/pool.js';
import type { BackendChoice } from '../runtime.js';
import type { ModelSpec } from './model-spec.js';
import type { ReplicaReply, ReplicaRequest, SharedBuffers } from './replica-worker.js';

export interface Batch {
  /** Examples laid out one after another in the model's input shape (NHWC for images). */
  x: Float32Array;
  labels: Int32Array;
}

export interface SavedModel {
  modelTopology: unknown;
  weightSpecs: Array<{ name: string; shape: number[]; dtype: string }>;
  weightData: ArrayBuffer;
}

export interface ReplicaOptions {
  spec: ModelSpec;
  replicas: number;
  backend: BackendChoice;
  seed: number;
  learningRate: number;
  exampleSize: number;
}

type Reply<K extends ReplicaReply['op']> = Extract<ReplicaReply, { op: K }>;

/**
 * Synchronous data-parallel training on worker threads. The tfjs wasm backend runs single-threaded in
 * Node, so one replica per core is what puts both cores to work: each replica computes the gradients of
 * its shard of the batch into its slot of shared memory; then each sums one part of the parameters over
 * the slots in a fixed order and takes the Adam step on that part of the shared weights, which every
 * replica reads before its next step (a reduce-scatter and all-gather without copies: sending the 18 MB
 * of paper-CNN gradients through messages and summing them on this thread cost ~0.23 s a step).
 * Batch-norm moving statistics, which each replica updates from its own shard, are averaged before
 * each evaluation and save.
 */
export class ReplicaSet {
  private constructor(
    private readonly pool: WorkerPool<ReplicaRequest, ReplicaReply>,
    readonly backend: string,
    readonly skipped: readonly string[],
    readonly parameters: number,
    private readonly exampleSize: number,
  ) {}

  static async start(options: ReplicaOptions): Promise<ReplicaSet> {
    const pool = new WorkerPool<ReplicaRequest, ReplicaReply>(
      new URL('./replica-worker.js', import.meta.url),
      options.replicas,
      1,
    );
    try {
      return await ReplicaSet.initialise(pool, options);
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  /**
   * Another model (new weights, optimizer and shared memory) on these replicas' worker threads, which this set
   * hands over: a cross-validation's folds pay the threads' start and the JIT's warm-up (0.5–1 s and the first
   * few dozen steps of a small model) once rather than per fold. The model is what `start` would have built.
   */
  async restart(options: ReplicaOptions): Promise<ReplicaSet> {
    if (options.replicas !== this.size)
      throw new Error(`restart with ${options.replicas} replicas on a set of ${this.size}`);
    try {
      return await ReplicaSet.initialise(this.pool, options);
    } catch (error) {
      await this.pool.close();
      throw error;
    }
  }

  private static async initialise(
    pool: WorkerPool<ReplicaRequest, ReplicaReply>,
    options: ReplicaOptions,
  ): Promise<ReplicaSet> {
    const replies = (await Promise.all(
      Array.from({ length: options.replicas }, (_, replica) =>
        pool.runOn(replica, {
          op: 'init',
          spec: options.spec,
          backend: options.backend,
          seed: options.seed,
          replica,
          learningRate: options.learningRate,
        }),
      ),
    )) as Reply<'init'>[];
    const first = replies[0] as Reply<'init'>;
    const size = first.parameters;
    const gradients = new SharedArrayBuffer(4 * size * options.replicas);
    const weights = new SharedArrayBuffer(4 * size);
    await Promise.all(
      Array.from({ length: options.replicas }, (_, replica) => {
        const part = (r: number): number => Math.floor((size * r) / options.replicas);
        const buffers: SharedBuffers = { gradients, weights, from: part(replica), to: part(replica + 1) };
        return pool.runOn(replica, { op: 'share', buffers });
      }),
    );
    return new ReplicaSet(pool, first.backend, first.skipped, first.parameters, options.exampleSize);
  }

  get size(): number {
    return this.pool.size;
  }

  /** Splits a batch into one contiguous shard per replica (fewer when the batch is smaller). */
  private shards(batch: Batch): Batch[] {
    const n = batch.labels.length;
    const count = Math.min(this.size, n);
    const shards: Batch[] = [];
    for (let s = 0, start = 0; s < count; s++) {
      const end = start + Math.floor(n / count) + (s < n % count ? 1 : 0);
      shards.push({
        x: batch.x.slice(start * this.exampleSize, end * this.exampleSize),
        labels: batch.labels.slice(start, end),
      });
      start = end;
    }
    return shards;
  }

  /** One optimisation step on a batch; returns the batch's mean loss and how many it classified right. */
  async step(batch: Batch): Promise<{ loss: number; correct: number }> {
    const shards = this.shards(batch);
    const replies = (await Promise.all(
      shards.map((shard, i) =>
        this.pool.runOn(i, { op: 'gradients', ...shard, slot: i }, [
          shard.x.buffer as ArrayBuffer,
          shard.labels.buffer as ArrayBuffer,
        ]),
      ),
    )) as Reply<'gradients'>[];
    const n = batch.labels.length;
    await Promise.all(
      Array.from({ length: this.size }, (_, i) =>
        this.pool.runOn(i, { op: 'reduce', shards: shards.length, examples: n }),
      ),
    );
    return {
      loss: replies.reduce((sum, r) => sum + r.lossSum, 0) / n,
      correct: replies.reduce((sum, r) => sum + r.correct, 0),
    };
  }

  /** Inference-mode loss sum, predicted classes and class probabilities (row-major, n × classes) for a batch. */
  async evaluate(batch: Batch): Promise<{ lossSum: number; predictions: Int32Array; probabilities: Float32Array }> {
    const shards = this.shards(batch);
    const replies = (await Promise.all(
      shards.map((shard, i) => this.pool.runOn(i, { op: 'evaluate', ...shard }, [shard.x.buffer as ArrayBuffer])),
    )) as Reply<'evaluate'>[];
    const n = batch.labels.length;
    const predictions = new Int32Array(n);
    const probabilities = new Float32Array(replies.reduce((size, r) => size + r.probabilities.length, 0));
    let offset = 0;
    let probabilityOffset = 0;
    for (const reply of replies) {
      predictions.set(reply.predictions, offset);
      probabilities.set(reply.probabilities, probabilityOffset);
      offset += reply.predictions.length;
      probabilityOffset += reply.probabilities.length;
    }
    return { lossSum: replies.reduce((sum, r) => sum + r.lossSum, 0), predictions, probabilities };
  }

  /** Gives every replica the mean of their batch-norm moving statistics. */
  async syncMovingStats(): Promise<void> {
    if (this.size === 1) return;
    const replies = (await Promise.all(
      Array.from({ length: this.size }, (_, i) => this.pool.runOn(i, { op: 'movingStats' })),
    )) as Reply<'movingStats'>[];
    const mean = (replies[0] as Reply<'movingStats'>).values;
    for (const reply of replies.slice(1))
      for (let i = 0; i < mean.length; i++) mean[i] = (mean[i] as number) + (reply.values[i] as number);
    for (let i = 0; i < mean.length; i++) mean[i] = (mean[i] as number) / this.size;
    await Promise.all(
      Array.from({ length: this.size }, (_, i) => this.pool.runOn(i, { op: 'setMovingStats', values: mean })),
    );
  }

  async setLearningRate(learningRate: number): Promise<void> {
    await Promise.all(
      Array.from({ length: this.size }, (_, i) => this.pool.runOn(i, { op: 'setLearningRate', learningRate })),
    );
  }

  /** The model as tfjs saves it (topology and weights); replicas agree after `syncMovingStats`. */
  async save(): Promise<SavedModel> {
    const reply = (await this.pool.runOn(0, { op: 'save' })) as Reply<'save'>;
    return { modelTopology: reply.modelTopology, weightSpecs: reply.weightSpecs, weightData: reply.weightData };
  }

  async tensorCounts(): Promise<number[]> {
    const replies = (await Promise.all(
      Array.from({ length: this.size }, (_, i) => this.pool.runOn(i, { op: 'memory' })),
    )) as Reply<'memory'>[];
    return replies.map((r) => r.numTensors);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
