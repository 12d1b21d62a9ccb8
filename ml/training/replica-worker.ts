// Worker thread holding one replica of the model being trained (see replicas.ts for the protocol).
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendChoice } from '../runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { Replica, type SavedArtifacts, type SharedBuffers } from './replica.js';
import type { ModelSpec } from './model-spec.js';

export type { SharedBuffers } from './replica.js';

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
  | ({ op: 'save' } & SavedArtifacts)
  | { op: 'memory'; numTensors: number; numBytes: number }
  | { op: 'done' };

let replica: Replica | undefined;

function current(): Replica {
  if (!replica) throw new Error('the replica was not initialised');
  return replica;
}

serveRequests<ReplicaRequest, ReplicaReply>(async (request) => {
  switch (request.op) {
    case 'init': {
      const runtime = await selectBackend(request.backend);
      // A restart (the next fold) replaces the model: its variables go with it.
      replica?.dispose();
      replica = new Replica(request.spec, request.seed, request.replica, request.learningRate);
      return {
        result: { op: 'init', backend: runtime.backend, skipped: runtime.skipped, parameters: replica.parameters },
      };
    }
    case 'share':
      current().share(request.buffers);
      return { result: { op: 'done' } };
    case 'gradients':
      return { result: { op: 'gradients', ...current().gradients(request.x, request.labels, request.slot) } };
    case 'reduce':
      current().reduce(request.shards, request.examples);
      return { result: { op: 'done' } };
    case 'evaluate': {
      const { lossSum, predictions, probabilities } = current().evaluate(request.x, request.labels);
      return {
        result: { op: 'evaluate', lossSum, predictions, probabilities },
        transfer: [predictions.buffer as ArrayBuffer, probabilities.buffer as ArrayBuffer],
      };
    }
    case 'movingStats': {
      const values = current().movingStats();
      return { result: { op: 'movingStats', values }, transfer: [values.buffer as ArrayBuffer] };
    }
    case 'setMovingStats':
      current().setMovingStats(request.values);
      return { result: { op: 'done' } };
    case 'setLearningRate':
      current().setLearningRate(request.learningRate);
      return { result: { op: 'done' } };
    case 'save': {
      const saved = await current().save();
      return { result: { op: 'save', ...saved }, transfer: [saved.weightData] };
    }
    case 'memory': {
      const { numTensors, numBytes } = tf.memory();
      return { result: { op: 'memory', numTensors, numBytes } };
    }
  }
});
