import * as tf from '@tensorflow/tfjs-core';

/** What tf.customGrad is built on (private in tfjs' types). */
interface CustomGradEngine {
  runKernelFunc(op: {
    forwardFunc: (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

/**
 * An op with a hand-written gradient given as one function per input, each called only for the inputs the
 * gradient flows to. tf.customGrad computes every input's gradient up front, even for an input nothing asks
 * about (a model's input image); the engine's own entry point, which customGrad wraps, does not.
 */
export function customOp(
  inputs: Record<string, tf.Tensor>,
  forward: (save: (tensors: tf.Tensor[]) => void) => tf.Tensor,
  gradients: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>,
): tf.Tensor {
  const engine = tf.engine() as unknown as CustomGradEngine;
  return engine.runKernelFunc({
    forwardFunc: (_backend, save) => forward(save),
    backwardsFunc: gradients,
    inputs,
  });
}
