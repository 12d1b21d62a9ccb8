import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { OnnxModel, OutputTensor } from './session.js';

export type { OutputTensor } from './session.js';

/**
 * A model that only predicts, on whichever runtime loaded it: onnxruntime (the fast path) or a tfjs graph
 * model (the fallback). Callers prepare the input with tfjs ops and read plain arrays back, so the code that
 * feeds a model and reads its outputs is the same on both.
 */
export interface InferenceModel {
  readonly name: string;
  /**
   * Where it runs, in words that key memoised predictions ("onnxruntime-node 1.30.0 cpu", "tfjs wasm"):
   * runtimes round differently, so their outputs are never mixed in one memo entry.
   */
  readonly runtime: string;
  /** NHWC input shape; -1 for the batch (or any free) dimension. */
  readonly inputShape: readonly number[];
  /** Outputs as tfjs names them (signature keys, else node names), in tfjs's order. */
  readonly outputNames: readonly string[];
  /** Why the fast path was not taken, where it was not. */
  readonly passedOver?: string;
  /** The outputs named (all of them by default), in that order. `input` is not disposed. */
  run(input: tf.Tensor, names?: readonly string[]): Promise<OutputTensor[]>;
  dispose(): void;
}

export function graphModelInference(name: string, model: GraphModel, passedOver?: string): InferenceModel {
  // Signature keys where the model has a signature (tfjs takes them as output names), as the converter names them.
  const signature = (model.modelSignature as { outputs?: Record<string, unknown> } | undefined)?.outputs;
  const outputNames =
    signature && Object.keys(signature).length ? Object.keys(signature) : model.outputs.map((o) => o.name);
  return {
    name,
    runtime: `tfjs ${tf.getBackend()}`,
    inputShape: (model.inputs[0]?.shape ?? []).map((d) => (d && d > 0 ? d : -1)),
    outputNames,
    ...(passedOver ? { passedOver } : {}),
    async run(input, names = outputNames) {
      const out = model.execute(input, [...names]);
      const tensors = Array.isArray(out) ? out : [out];
      try {
        return tensors.map((t) => ({ data: t.dataSync() as Float32Array, dims: [...t.shape] }));
      } finally {
        tf.dispose(tensors);
      }
    },
    dispose: () => model.dispose(),
  };
}

export function onnxInference(
  name: string,
  model: OnnxModel,
  runtime: string,
  inputShape: readonly number[],
): InferenceModel {
  return {
    name,
    runtime,
    inputShape,
    outputNames: model.outputNames,
    async run(input, names) {
      const data = input.dataSync();
      const values = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      // tfjs takes a node's name for its first output ("x" for "x:0"); so does this.
      const wanted = names?.map((n) => (model.outputNames.includes(n) ? n : `${n}:0`));
      return model.run(values, input.shape, wanted);
    },
    dispose: () => void model.release(),
  };
}

/**
 * What a memo key says of the runtime a value was computed on. Runtimes round differently, so a value made on
 * one is not another's; values made on tfjs carry nothing, so the memos made before onnxruntime stay valid.
 */
export function runtimeKeyPart(runtime: string): { runtime?: string } {
  return runtime.startsWith('tfjs') ? {} : { runtime };
}
