import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../kernels/fer-dag-kernels.js';
import { stockLayerClass } from './stock-layer.js';

type BatchNormLayer = ReturnType<typeof tfl.layers.batchNormalization>;
type CallArgs = Parameters<BatchNormLayer['call']>;
type BatchNormArgs = Parameters<typeof tfl.layers.batchNormalization>[0];
const BatchNormBase = stockLayerClass<new (args?: BatchNormArgs) => BatchNormLayer>('BatchNormalization');

interface LayerVariableLike {
  read(): tf.Tensor;
  write(value: tf.Tensor): void;
}

/** The fields of tfjs-layers' BatchNormalization this layer reads (protected there). */
interface BatchNormFields {
  gamma: LayerVariableLike;
  beta: LayerVariableLike;
  movingMean: LayerVariableLike;
  movingVariance: LayerVariableLike;
  momentum: number;
  epsilon: number;
  axis: number;
  center: boolean;
  scale: boolean;
}

/**
 * Keras' BatchNormalization with one hand-written gradient for training mode. tfjs-layers differentiates
 * the moments and the normalisation op by op (the mean's and the variance's gradients each broadcast back
 * to the input's size), so batch norm cost 0.35–0.5 s of a 2.4 s paper-CNN step on wasm. The gradient
 * here is the textbook one, with x̂ = (x − μ)/σ and m values per channel:
 *
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = (γ/σ) · (dy − dβ/m − x̂·dγ/m)
 *
 * in five whole-tensor passes. Forward values and moving statistics are computed as tfjs-layers does;
 * inference is the stock layer's, and the layer saves as a stock `BatchNormalization`. On a backend with
 * fer-dag's batch-norm training kernels (native), forward and gradient are one kernel each.
 */
export class FastBatchNorm extends BatchNormBase {
  static className = 'BatchNormalization';

  override call(inputs: CallArgs[0], kwargs: CallArgs[1]): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as BatchNormFields;
    const input = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor;
    const lastAxis = self.axis === -1 || self.axis === input.rank - 1;
    if (!kwargs?.['training'] || !lastAxis || !self.center || !self.scale) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const axes = Array.from({ length: input.rank - 1 }, (_, i) => i);
      const epsilon = self.epsilon;
      let batchMean: tf.Tensor | undefined;
      let batchVariance: tf.Tensor | undefined;
      const fused = tf.getKernel(BATCH_NORM_TRAINING, tf.getBackend()) !== undefined;
      const normalize = tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
        if (fused) {
          const [y, mean, variance] = tf
            .engine()
            .runKernel(BATCH_NORM_TRAINING, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
          batchMean = tf.keep((mean as tf.Tensor).clone());
          batchVariance = tf.keep((variance as tf.Tensor).clone());
          save([x, mean as tf.Tensor, variance as tf.Tensor, gamma]);
          return {
            value: y as tf.Tensor,
            gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
              const [sx, sMean, sVariance, sGamma] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
              const inputs = { x: sx, dy, mean: sMean, variance: sVariance, gamma: sGamma };
              return tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, inputs, { epsilon }) as tf.Tensor[];
            },
          };
        }
        const { mean, variance } = tf.moments(x, axes);
        // customGrad disposes what its forward pass made, save for the output and the saved tensors.
        batchMean = tf.keep(mean.clone());
        batchVariance = tf.keep(variance.clone());
        save([x, mean, variance, gamma]);
        return {
          value: tf.batchNorm(x, mean, variance, beta, gamma, epsilon),
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
            const [sx, sMean, sVariance, sGamma] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
            const count = sx.size / sMean.size;
            const rstd = tf.rsqrt(tf.add(sVariance, epsilon));
            const dBeta = tf.sum(dy, axes);
            const dGamma = tf.mul(tf.sum(tf.mul(dy, tf.sub(sx, sMean)), axes), rstd);
            const gain = tf.mul(sGamma, rstd);
            // x̂·b + c in one batch-norm pass over x, with b = −gain·dγ/m and c = −gain·dβ/m.
            const slope = tf.neg(tf.div(tf.mul(gain, dGamma), count));
            const shift = tf.neg(tf.div(tf.mul(gain, dBeta), count));
            const dx = tf.add(tf.mul(dy, gain), tf.batchNorm(sx, sMean, sVariance, shift, slope, epsilon));
            return [dx, dGamma, dBeta];
          },
        };
      }) as unknown as Parameters<typeof tf.customGrad>[0]);
      const output = (normalize as (...args: tf.Tensor[]) => tf.Tensor)(input, self.gamma.read(), self.beta.read());
      // As tfjs-layers updates them: v ← v − (v − batch value)·(1 − momentum).
      for (const [variable, value] of [
        [self.movingMean, batchMean],
        [self.movingVariance, batchVariance],
      ] as const) {
        const current = variable.read();
        variable.write(tf.sub(current, tf.mul(tf.sub(current, value as tf.Tensor), 1 - self.momentum)));
      }
      tf.dispose([batchMean as tf.Tensor, batchVariance as tf.Tensor]);
      return output;
    });
  }
}
