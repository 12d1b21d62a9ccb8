// Worker thread holding one replica of the model being trained (see replicas.ts for the protocol).
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { seededRandom } from '../../lib/random.js';
import { selectBackend, type BackendChoice } from '../runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { FusedAdam } from './adam.js';
import { buildModel, exampleShape, type ModelSpec } from './model-spec.js';

export type ReplicaRequest =
  | { op: 'init'; spec: ModelSpec; backend: BackendChoice; seed: number; replica: number; learningRate: number }
  | { op: 'gradients'; x: Float32Array; labels: Int32Array }
  | { op: 'apply'; gradients: Float32Array }
  | { op: 'evaluate'; x: Float32Array; labels: Int32Array }
  | { op: 'movingStats' }
  | { op: 'setMovingStats'; values: Float32Array }
  | { op: 'setLearningRate'; learningRate: number }
  | { op: 'save' }
  | { op: 'memory' };

export type ReplicaReply =
  | { op: 'init'; backend: string; skipped: readonly string[]; parameters: number }
  | { op: 'gradients'; gradients: Float32Array; lossSum: number; correct: number }
  | { op: 'evaluate'; lossSum: number; predictions: Int32Array; probabilities: Float32Array }
  | { op: 'movingStats'; values: Float32Array }
  | { op: 'save'; modelTopology: unknown; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer }
  | { op: 'memory'; numTensors: number; numBytes: number }
  | { op: 'done' };

interface Replica {
  spec: ModelSpec;
  model: LayersModel;
  optimizer: FusedAdam;
  trainable: tf.Variable[];
  /** The trainable weights' values, updated in place by the optimizer and written back after each step. */
  values: Float32Array[];
  /** Batch-norm moving means and variances: each replica updates them from its own shard. */
  moving: tf.Variable[];
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

function concat(tensors: tf.Tensor[]): Float32Array {
  const total = tensors.reduce((n, t) => n + t.size, 0);
  const flat = new Float32Array(total);
  let offset = 0;
  for (const t of tensors) {
    flat.set(t.dataSync() as Float32Array, offset);
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
  const values = trainable.map((v) => v.dataSync().slice() as Float32Array);
  return {
    spec: request.spec,
    model,
    optimizer: new FusedAdam(
      values.map((v) => v.length),
      request.learningRate,
    ),
    trainable,
    values,
    moving,
  };
}

serveRequests<ReplicaRequest, ReplicaReply>(async (request) => {
  switch (request.op) {
    case 'init': {
      const runtime = await selectBackend(request.backend);
      replica = init(request);
      const parameters = replica.trainable.reduce((n, v) => n + v.size, 0);
      return { result: { op: 'init', backend: runtime.backend, skipped: runtime.skipped, parameters } };
    }
    case 'gradients': {
      const r = current();
      const n = request.labels.length;
      let correct = 0;
      const { value, grads } = tf.variableGrads(() => {
        const x = tf.tensor(request.x, [n, ...exampleShape(r.spec)]);
        const labels = tf.tensor1d(request.labels, 'int32');
        const probabilities = r.model.apply(x, { training: true }) as tf.Tensor;
        correct = tf.sum(tf.equal(tf.argMax(probabilities, -1), labels)).dataSync()[0] ?? 0;
        return crossEntropySum(labels, probabilities, r.spec.classes);
      }, r.trainable);
      const gradients = concat(r.trainable.map((v) => grads[v.name] as tf.Tensor));
      const lossSum = (await value.data())[0] ?? 0;
      tf.dispose([value, ...Object.values(grads)]);
      return { result: { op: 'gradients', gradients, lossSum, correct }, transfer: [gradients.buffer as ArrayBuffer] };
    }
    case 'apply': {
      const r = current();
      r.optimizer.apply(r.values, request.gradients);
      // A fresh tensor per weight rather than writing into the old one: the wasm backend caches each
      // convolution's packed filter by its tensor, so weights must never change in place.
      r.trainable.forEach((v, i) => {
        const next = tf.tensor(r.values[i] as Float32Array, v.shape);
        v.assign(next);
        next.dispose();
      });
      return { result: { op: 'done' } };
    }
    case 'evaluate': {
      const r = current();
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
      const values = concat(current().moving);
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
      current().optimizer.learningRate = request.learningRate;
      return { result: { op: 'done' } };
    }
    case 'save': {
      let saved: tf.io.ModelArtifacts | undefined;
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
