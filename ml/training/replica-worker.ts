// Worker thread holding one replica of the model being trained (see replicas.ts for the protocol).
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { seededRandom } from '../../lib/random.js';
import { selectBackend, type BackendChoice } from '../runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { FusedAdam, type AdamKernel } from './adam.js';
import { meanOfSlots } from './gradient-mean.js';
import { loadDnnlAddon, type DnnlAddon } from '../kernels/native-addon.js';
import { heapView, type WasmBackendLike } from '../kernels/wasm-heap.js';
import { buildModel, exampleShape, type ModelSpec } from './model-spec.js';

export type ReplicaRequest =
  | { op: 'init'; spec: ModelSpec; backend: BackendChoice; seed: number; replica: number; learningRate: number }
  | { op: 'share'; buffers: SharedBuffers }
  | { op: 'gradients'; x: Float32Array; labels: Int32Array; slot: number }
  | { op: 'reduce'; shards: number; examples: number }
  | { op: 'evaluate'; x: Float32Array; labels: Int32Array }
  | { op: 'movingStats' }
  | { op: 'setMovingStats'; values: Float32Array }
  | { op: 'setLearningRate'; learningRate: number }
  | { op: 'save' }
  | { op: 'memory' };

export type ReplicaReply =
  | { op: 'init'; backend: string; skipped: readonly string[]; parameters: number }
  | { op: 'gradients'; lossSum: number; correct: number }
  | { op: 'evaluate'; lossSum: number; predictions: Int32Array; probabilities: Float32Array }
  | { op: 'movingStats'; values: Float32Array }
  | { op: 'save'; modelTopology: unknown; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer }
  | { op: 'memory'; numTensors: number; numBytes: number }
  | { op: 'done' };

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

interface Replica {
  spec: ModelSpec;
  model: LayersModel;
  trainable: tf.Variable[];
  /** Batch-norm moving means and variances: each replica updates them from its own shard. */
  moving: tf.Variable[];
  shared?: {
    slots: Float32Array[];
    weights: Float32Array;
    from: number;
    to: number;
    optimizer: FusedAdam;
    mean: Float32Array;
    /** The shared weights moved since the model's variables were last set from them. */
    stale: boolean;
  };
  learningRate: number;
}

let replica: Replica | undefined;

function current(): Replica {
  if (!replica) throw new Error('the replica was not initialised');
  return replica;
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

function sharedState(r: Replica): NonNullable<Replica['shared']> {
  if (!r.shared) throw new Error('the replica was given no shared buffers');
  return r.shared;
}

/** Sets the model's weights from the shared ones if a step moved them. */
function load(r: Replica): void {
  const shared = r.shared;
  if (!shared?.stale) return;
  // A fresh tensor per weight rather than writing into the old one: the wasm backend caches each
  // convolution's packed filter by its tensor, so weights must never change in place. The wasm backends copy
  // what they are given into their heap; the copy (slice) keeps the cpu backend, which holds on to the array,
  // from seeing the next step's writes.
  const copies = !wasmHeap();
  let offset = 0;
  for (const v of r.trainable) {
    const values = shared.weights.subarray(offset, offset + v.size);
    const next = tf.tensor(copies ? values.slice() : values, v.shape);
    v.assign(next);
    next.dispose();
    offset += v.size;
  }
  shared.stale = false;
}

/** This replica's part of the step: the shards' mean gradient over [from, to), then Adam on those weights. */
function reduce(r: Replica, shards: number, examples: number): void {
  const shared = sharedState(r);
  const { slots, from, to, mean } = shared;
  meanOfSlots(slots.slice(0, shards), from, to, examples, mean, nativeAddon());
  shared.optimizer.apply([shared.weights.subarray(from, to)], mean);
  shared.stale = true;
}

function split(flat: Float32Array, like: tf.Variable[]): tf.Tensor[] {
  let offset = 0;
  return like.map((v) => {
    const part = tf.tensor(flat.subarray(offset, offset + v.size), v.shape);
    offset += v.size;
    return part;
  });
}

function init(request: Extract<ReplicaRequest, { op: 'init' }>): Replica {
  // tfjs draws initial weights and dropout masks from Math.random when no seed is given. Every replica
  // starts from the same weights (same stream), then draws its own dropout masks (its own stream).
  Math.random = seededRandom(request.seed, 'initial weights');
  const model = buildModel(request.spec);
  Math.random = seededRandom(request.seed, 'dropout', String(request.replica));
  const isMoving = (name: string): boolean => /moving_(mean|variance)/.test(name);
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const moving = model.weights
    .filter((w) => !w.trainable && isMoving(w.originalName))
    .map((w) => w.read() as tf.Variable);
  return { spec: request.spec, model, trainable, moving, learningRate: request.learningRate };
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

function share(r: Replica, buffers: SharedBuffers): void {
  const weights = new Float32Array(buffers.weights);
  const size = weights.length;
  const slots = Array.from(
    { length: buffers.gradients.byteLength / (4 * size) },
    (_, s) => new Float32Array(buffers.gradients, s * 4 * size, size),
  );
  // Every replica starts from the same weights; each writes the part it owns.
  weights.set(concat(r.trainable).subarray(buffers.from, buffers.to), buffers.from);
  const length = buffers.to - buffers.from;
  r.shared = {
    slots,
    weights,
    from: buffers.from,
    to: buffers.to,
    optimizer: new FusedAdam([length], r.learningRate, nativeAdam()),
    mean: new Float32Array(length),
    stale: false,
  };
}

serveRequests<ReplicaRequest, ReplicaReply>(async (request) => {
  switch (request.op) {
    case 'init': {
      const runtime = await selectBackend(request.backend);
      // A restart (the next fold) replaces the model: its variables go with it.
      replica?.model.dispose();
      replica = init(request);
      const parameters = replica.trainable.reduce((n, v) => n + v.size, 0);
      return { result: { op: 'init', backend: runtime.backend, skipped: runtime.skipped, parameters } };
    }
    case 'share': {
      share(current(), request.buffers);
      return { result: { op: 'done' } };
    }
    case 'gradients': {
      const r = current();
      const slot = sharedState(r).slots[request.slot];
      if (!slot) throw new Error(`no gradient slot ${request.slot}`);
      load(r);
      const n = request.labels.length;
      let correct = 0;
      const { value, grads } = tf.variableGrads(() => {
        const x = tf.tensor(request.x, [n, ...exampleShape(r.spec)]);
        const labels = tf.tensor1d(request.labels, 'int32');
        const probabilities = r.model.apply(x, { training: true }) as tf.Tensor;
        correct = tf.sum(tf.equal(tf.argMax(probabilities, -1), labels)).dataSync()[0] ?? 0;
        return crossEntropySum(labels, probabilities, r.spec.classes);
      }, r.trainable);
      concat(
        r.trainable.map((v) => grads[v.name] as tf.Tensor),
        slot,
      );
      const lossSum = (await value.data())[0] ?? 0;
      tf.dispose([value, ...Object.values(grads)]);
      return { result: { op: 'gradients', lossSum, correct } };
    }
    case 'reduce': {
      reduce(current(), request.shards, request.examples);
      return { result: { op: 'done' } };
    }
    case 'evaluate': {
      const r = current();
      load(r);
      const n = request.labels.length;
      const [lossSum, predictions, probabilities] = tf.tidy(() => {
        const x = tf.tensor(request.x, [n, ...exampleShape(r.spec)]);
        const labels = tf.tensor1d(request.labels, 'int32');
        const p = r.model.apply(x, { training: false }) as tf.Tensor;
        return [
          crossEntropySum(labels, p, r.spec.classes).dataSync()[0] ?? 0,
          tf.argMax(p, -1).dataSync() as Int32Array,
          p.dataSync() as Float32Array,
        ];
      });
      return {
        result: { op: 'evaluate', lossSum, predictions, probabilities },
        transfer: [predictions.buffer as ArrayBuffer, probabilities.buffer as ArrayBuffer],
      };
    }
    case 'movingStats': {
      const values = concat(current().moving) as Float32Array;
      return { result: { op: 'movingStats', values }, transfer: [values.buffer as ArrayBuffer] };
    }
    case 'setMovingStats': {
      const r = current();
      const parts = split(request.values, r.moving);
      r.moving.forEach((v, i) => v.assign(parts[i] as tf.Tensor));
      tf.dispose(parts);
      return { result: { op: 'done' } };
    }
    case 'setLearningRate': {
      const r = current();
      r.learningRate = request.learningRate;
      if (r.shared) r.shared.optimizer.learningRate = request.learningRate;
      return { result: { op: 'done' } };
    }
    case 'save': {
      let saved: tf.io.ModelArtifacts | undefined;
      load(current());
      await current().model.save(
        tf.io.withSaveHandler(async (artifacts) => {
          saved = artifacts;
          return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
        }),
      );
      if (!saved?.weightData || !saved.weightSpecs) throw new Error('the model saved no weights');
      const weightData = tf.io.concatenateArrayBuffers([saved.weightData].flat());
      return {
        result: { op: 'save', modelTopology: saved.modelTopology, weightSpecs: saved.weightSpecs, weightData },
        transfer: [weightData],
      };
    }
    case 'memory': {
      const { numTensors, numBytes } = tf.memory();
      return { result: { op: 'memory', numTensors, numBytes } };
    }
  }
});
