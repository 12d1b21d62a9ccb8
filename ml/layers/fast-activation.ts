import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { customOp } from './custom-op.js';
import { RELU_GRAD } from '../kernels/fer-dag-kernels.js';
import { stockLayerClass } from './stock-layer.js';

type ActivationLayer = ReturnType<typeof tfl.layers.activation>;
type CallArgs = Parameters<ActivationLayer['call']>;
type ActivationArgs = Parameters<typeof tfl.layers.activation>[0];
const ActivationBase = stockLayerClass<new (args: ActivationArgs) => ActivationLayer>('Activation');

/**
 * ReLU whose gradient is one kernel where the backend has fer-dag's (native): tfjs differentiates it as
 * dy · cast(step(x)), three whole-tensor passes (9.5 ms of a full-width paper-CNN shard step for the first block
 * alone). Elsewhere the gradient is that same expression. Same values either way.
 */
function relu(x: tf.Tensor): tf.Tensor {
  const engine = tf.engine();
  return customOp(
    { x },
    (save) => {
      save([x]);
      return engine.runKernel(tf.Relu, { x }) as tf.Tensor;
    },
    (dy, saved) => {
      const [sx] = saved as [tf.Tensor];
      const fused = tf.getKernel(RELU_GRAD, tf.getBackend()) !== undefined;
      return {
        x: () =>
          fused
            ? (engine.runKernel(RELU_GRAD, { x: sx, dy }) as tf.Tensor)
            : tf.mul(dy, tf.cast(tf.step(sx), 'float32')),
      };
    },
  );
}

/** Keras' Activation layer, with `relu` computed as above; it saves as a stock `Activation`. */
export class FastActivation extends ActivationBase {
  static className = 'Activation';

  override call(inputs: CallArgs[0], kwargs: CallArgs[1]): tf.Tensor | tf.Tensor[] {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor;
    const name = (this as unknown as { activation: { getClassName(): string } }).activation.getClassName();
    if (name !== 'relu' || x.dtype !== 'float32') return super.call(inputs, kwargs);
    return tf.tidy(() => relu(x));
  }
}
