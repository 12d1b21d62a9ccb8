import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { customOp } from './custom-op.js';
import { stockLayerClass } from './stock-layer.js';

type Conv2DLayer = ReturnType<typeof tfl.layers.conv2d>;
type CallArgs = Parameters<Conv2DLayer['call']>;
type Conv2DArgs = Parameters<typeof tfl.layers.conv2d>[0];
const Conv2DBase = stockLayerClass<new (args: Conv2DArgs) => Conv2DLayer>('Conv2D');

/** The fields of tfjs-layers' Conv2D this layer reads (protected there). */
interface Conv2DFields {
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
  activation: { getClassName(): string };
}

/**
 * The convolution, bias included, with a gradient that computes each input's part only when something asks for
 * it. tfjs' fused convolution differentiates x, filter and bias at once, so a model's first layer computed the
 * image's gradient every step, for nothing: 17 ms of an 875 ms paper-CNN shard step on native, 4.8 of 125 at a
 * quarter of its width. The kernels and their arguments are the fused op's, so values and gradients are the
 * same bytes.
 */
function conv2dWithBias(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  strides: [number, number],
  pad: 'same' | 'valid',
): tf.Tensor4D {
  const engine = tf.engine();
  const attrs = { strides, pad, dataFormat: 'NHWC', dilations: [1, 1], activation: 'linear' };
  const common = { strides, pad, dataFormat: 'NHWC' };
  return customOp(
    { x, filter, bias },
    (save) => {
      save([x, filter]);
      return engine.runKernel(tf.FusedConv2D, { x, filter, bias }, attrs) as tf.Tensor4D;
    },
    (dy, saved) => {
      const [sx, sFilter] = saved as [tf.Tensor4D, tf.Tensor4D];
      return {
        x: () => engine.runKernel(tf.Conv2DBackpropInput, { dy, filter: sFilter }, { ...common, inputShape: sx.shape }),
        filter: () =>
          engine.runKernel(tf.Conv2DBackpropFilter, { x: sx, dy }, { ...common, filterShape: sFilter.shape }),
        bias: () => tf.reshape(tf.sum(dy, [0, 1, 2]), bias.shape),
      };
    },
  ) as tf.Tensor4D;
}

/**
 * Keras' Conv2D, computed by conv2dWithBias for the paper CNN's case (NHWC, a bias, no activation, no dilation);
 * any other configuration is the stock layer's. It saves as a stock `Conv2D`.
 */
export class FastConv2D extends Conv2DBase {
  static className = 'Conv2D';

  override call(inputs: CallArgs[0], kwargs: CallArgs[1]): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as Conv2DFields;
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor;
    const plain =
      x.rank === 4 &&
      self.dataFormat === 'channelsLast' &&
      self.bias !== null &&
      self.activation.getClassName() === 'linear' &&
      [self.dilationRate].flat().every((d) => d === 1) &&
      (self.padding === 'same' || self.padding === 'valid');
    if (!plain) return super.call(inputs, kwargs);
    return tf.tidy(() =>
      conv2dWithBias(
        x as tf.Tensor4D,
        self.kernel.read() as tf.Tensor4D,
        self.bias!.read() as tf.Tensor1D,
        self.strides as [number, number],
        self.padding as 'same' | 'valid',
      ),
    );
  }
}
