import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';

/**
 * The gradient of FusedBatchNorm, written with broadcasting instead of tfjs-core's `tile` of the
 * per-channel 1/σ to the full activation shape. On the wasm backend that tile was the third most
 * expensive kernel of a paper-CNN training step (1.3 s of 8 s for a batch of 64); the result is the
 * same expression, so backends agree to float32 rounding (test/wasm-kernels.test.ts).
 */
export const batchNormGradConfig: GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const grad = dy as Tensor;
    const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
    const epsilon = attrs.varianceEpsilon as number;
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const sumOver = (t: Tensor): Tensor => (axes.length ? tf.sum(t, axes) : t);
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const gain = scale ? tf.mul(scale, rstd) : rstd;
    const centered = tf.sub(x, mean);
    const dyCentered = sumOver(tf.mul(grad, centered));
    const dySum = sumOver(grad);
    return {
      x: () => tf.reshape(tf.mul(grad, gain), x.shape),
      mean: () => tf.reshape(tf.neg(tf.mul(gain, dySum)), mean.shape),
      variance: () => tf.reshape(tf.mul(tf.mul(tf.mul(gain, tf.square(rstd)), -0.5), dyCentered), mean.shape),
      scale: () => tf.reshape(tf.mul(dyCentered, rstd), mean.shape),
      offset: () => tf.reshape(dySum, mean.shape),
    };
  },
};
