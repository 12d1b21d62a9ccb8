// One copy of the model being trained, in this thread: what a replica worker holds (replica-worker.ts), and what
// a thread that trains a whole model alone holds (local-trainer.ts).
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { seededRandom } from '../../lib/random.js';
import { FusedAdam, type AdamKernel } from './adam.js';
import { meanOfSlots } from './gradient-mean.js';
import { loadDnnlAddon, type DnnlAddon } from '../kernels/native-addon.js';
import { heapView, type WasmBackendLike } from '../kernels/wasm-heap.js';
import { buildModel, exampleShape, type ModelSpec } from './model-spec.js';

/**
 * Memory every replica sees (SharedArrayBuffers): one gradient slot per replica and the weights, each laid out
 * variable after variable. Replica r owns the weights in [from, to): it sums that part of every slot, takes
 * the Adam step there, and the others read it from the shared weights before their next step.
 */
export interface SharedBuffers {
  gradients: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  from: number;
  to: number;
}

export interface SavedArtifacts {
  modelTopology: unknown;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

/** Keras' categorical cross-entropy on softmax outputs, summed over the shard (the caller averages). */
function crossEntropySum(labels: tf.Tensor, probabilities: tf.Tensor, classes: number): tf.Scalar {
  const onehot = tf.oneHot(labels as tf.Tensor1D, classes);
  const clipped = tf.clipByValue(probabilities, 1e-7, 1 - 1e-7);
  return tf.neg(tf.sum(tf.mul(onehot, tf.log(clipped)))) as tf.Scalar;
}

/** The wasm-family backends' heap, where a float tensor's values can be read without the copy dataSync makes. */
function wasmHeap(): WasmBackendLike | undefined {
  const name = tf.getBackend();
  return name === 'wasm' || name === 'native' ? (tf.backend() as unknown as WasmBackendLike) : undefined;
}

function concat(
  tensors: tf.Tensor[],
  flat: Float32Array<ArrayBufferLike> = new Float32Array(tensors.reduce((n, t) => n + t.size, 0)),
): Float32Array<ArrayBufferLike> {
  const heap = wasmHeap();
  let offset = 0;
  for (const t of tensors) {
    const floats = heap && t.dtype === 'float32';
    flat.set(floats ? heapView(heap, t) : (t.dataSync() as Float32Array), offset);
    offset += t.size;
  }
  return flat;
}

function split(flat: Float32Array, like: tf.Variable[]): tf.Tensor[] {
  let offset = 0;
  return like.map((v) => {
    const part = tf.tensor(flat.subarray(offset, offset + v.size), v.shape);
    offset += v.size;
    return part;
  });
}

/** The oneDNN addon where it is built: its Adam and gradient mean give the same bytes as the JavaScript loops. */
function nativeAddon(): DnnlAddon | undefined {
  const loaded = loadDnnlAddon();
  return 'addon' in loaded ? loaded.addon : undefined;
}

function nativeAdam(): AdamKernel | undefined {
  const addon = nativeAddon();
  return addon?.adamStep.bind(addon);
}

interface SharedState {
  slots: Float32Array[];
  weights: Float32Array;
  from: number;
  to: number;
  optimizer: FusedAdam;
  mean: Float32Array;
  /** The shared weights moved since the model's variables were last set from them. */
  stale: boolean;
}

/** A model replica on the current tfjs backend; `replica` numbers it among its set (its dropout stream). */
export class Replica {
  private readonly model: LayersModel;
  private readonly trainable: tf.Variable[];
  /** Batch-norm moving means and variances: each replica updates them from its own shard. */
  private readonly moving: tf.Variable[];
  private shared: SharedState | undefined;

  constructor(
    readonly spec: ModelSpec,
    seed: number,
    replica: number,
    private learningRate: number,
  ) {
    // tfjs draws initial weights and dropout masks from Math.random when no seed is given. Every replica
    // starts from the same weights (same stream), then draws its own dropout masks (its own stream).
    Math.random = seededRandom(seed, 'initial weights');
    this.model = buildModel(spec);
    Math.random = seededRandom(seed, 'dropout', String(replica));
    const isMoving = (name: string): boolean => /moving_(mean|variance)/.test(name);
    this.trainable = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    this.moving = this.model.weights
      .filter((w) => !w.trainable && isMoving(w.originalName))
      .map((w) => w.read() as tf.Variable);
  }

  get parameters(): number {
    return this.trainable.reduce((n, v) => n + v.size, 0);
  }

  /** Takes the set's shared memory; every replica starts from the same weights and writes the part it owns. */
  share(buffers: SharedBuffers): void {
    const weights = new Float32Array(buffers.weights);
    const size = weights.length;
    const slots = Array.from(
      { length: buffers.gradients.byteLength / (4 * size) },
      (_, s) => new Float32Array(buffers.gradients, s * 4 * size, size),
    );
    weights.set(concat(this.trainable).subarray(buffers.from, buffers.to), buffers.from);
    const length = buffers.to - buffers.from;
    this.shared = {
      slots,
      weights,
      from: buffers.from,
      to: buffers.to,
      optimizer: new FusedAdam([length], this.learningRate, nativeAdam()),
      mean: new Float32Array(length),
      stale: false,
    };
  }

  private state(): SharedState {
    if (!this.shared) throw new Error('the replica was given no shared buffers');
    return this.shared;
  }

  /** Sets the model's weights from the shared ones if a step moved them. */
  private load(): void {
    const shared = this.shared;
    if (!shared?.stale) return;
    // A fresh tensor per weight rather than writing into the old one: the wasm backend caches each
    // convolution's packed filter by its tensor, so weights must never change in place. The wasm backends copy
    // what they are given into their heap; the copy (slice) keeps the cpu backend, which holds on to the array,
    // from seeing the next step's writes.
    const copies = !wasmHeap();
    let offset = 0;
    for (const v of this.trainable) {
      const values = shared.weights.subarray(offset, offset + v.size);
      const next = tf.tensor(copies ? values.slice() : values, v.shape);
      v.assign(next);
      next.dispose();
      offset += v.size;
    }
    shared.stale = false;
  }

  /** The shard's loss gradients into gradient slot `slot`; its summed loss and how many it classified right. */
  gradients(x: Float32Array, labelIds: Int32Array, slot: number): { lossSum: number; correct: number } {
    const target = this.state().slots[slot];
    if (!target) throw new Error(`no gradient slot ${slot}`);
    this.load();
    const n = labelIds.length;
    let correct = 0;
    const { value, grads } = tf.variableGrads(() => {
      const input = tf.tensor(x, [n, ...exampleShape(this.spec)]);
      const labels = tf.tensor1d(labelIds, 'int32');
      const probabilities = this.model.apply(input, { training: true }) as tf.Tensor;
      correct = tf.sum(tf.equal(tf.argMax(probabilities, -1), labels)).dataSync()[0] ?? 0;
      return crossEntropySum(labels, probabilities, this.spec.classes);
    }, this.trainable);
    concat(
      this.trainable.map((v) => grads[v.name] as tf.Tensor),
      target,
    );
    const lossSum = value.dataSync()[0] ?? 0;
    tf.dispose([value, ...Object.values(grads)]);
    return { lossSum, correct };
  }

  /** This replica's part of the step: the shards' mean gradient over [from, to), then Adam on those weights. */
  reduce(shards: number, examples: number): void {
    const shared = this.state();
    const { slots, from, to, mean } = shared;
    meanOfSlots(slots.slice(0, shards), from, to, examples, mean, nativeAddon());
    shared.optimizer.apply([shared.weights.subarray(from, to)], mean);
    shared.stale = true;
  }

  /** Inference-mode loss sum, predicted classes and class probabilities (row-major) for a shard. */
  evaluate(x: Float32Array, labelIds: Int32Array) {
    this.load();
    const n = labelIds.length;
    const [lossSum, predictions, probabilities] = tf.tidy(() => {
      const input = tf.tensor(x, [n, ...exampleShape(this.spec)]);
      const labels = tf.tensor1d(labelIds, 'int32');
      const p = this.model.apply(input, { training: false }) as tf.Tensor;
      return [
        crossEntropySum(labels, p, this.spec.classes).dataSync()[0] ?? 0,
        tf.argMax(p, -1).dataSync() as Int32Array,
        p.dataSync() as Float32Array,
      ] as const;
    });
    return { lossSum, predictions, probabilities };
  }

  movingStats(): Float32Array {
    return concat(this.moving) as Float32Array;
  }

  setMovingStats(values: Float32Array): void {
    const parts = split(values, this.moving);
    this.moving.forEach((v, i) => v.assign(parts[i] as tf.Tensor));
    tf.dispose(parts);
  }

  setLearningRate(learningRate: number): void {
    this.learningRate = learningRate;
    if (this.shared) this.shared.optimizer.learningRate = learningRate;
  }

  /** The model as tfjs saves it: topology, weight specs and the weights in one buffer. */
  async save(): Promise<SavedArtifacts> {
    let saved: tf.io.ModelArtifacts | undefined;
    this.load();
    await this.model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
      }),
    );
    if (!saved?.weightData || !saved.weightSpecs) throw new Error('the model saved no weights');
    const weightData = tf.io.concatenateArrayBuffers([saved.weightData].flat());
    return { modelTopology: saved.modelTopology, weightSpecs: saved.weightSpecs, weightData };
  }

  dispose(): void {
    this.model.dispose();
  }
}
