import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  FusedBatchNormAttrs,
  FusedConv2DAttrs,
  MaxPoolGradAttrs,
  SumAttrs,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { floats, heap, offset, type WasmBackendLike } from './wasm-heap.js';
import { leadingAxesReduction } from './wasm-kernels.js';
import { tilesIn2x2 } from './wasm-max-pool-grad.js';
import type { NativeSettings } from './native-addon.js';
import { batchMatMul, fusedMatMul } from './native-matmul.js';

import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, RELU_GRAD } from './fer-dag-kernels.js';

/**
 * The `native` backend: tfjs' wasm backend, with its convolutions (forward, fused with bias and ReLU, both
 * gradients) and matrix products run by oneDNN's AVX2 kernels, and batch norm's normalisation, leading-axis
 * sums and means and the 2×2 max-pool gradient by plain C++ loops, all on the tensors where they lie in the
 * wasm heap. wasm's SIMD is 128 bits wide, half of AVX2's, and its convolutions reach about a fifth of a core's
 * peak; the paper CNN spends 99.5 % of its arithmetic in convolutions. Every other op stays wasm's. A case a
 * kernel does not take (NCHW, dilations with gradients, PReLU, other pools) goes to wasm's own kernel.
 */

/** The 17 numbers the addon takes for a convolution, from tfjs' own arithmetic of shapes and pads. */
export function convolutionShape(info: tf.backend_util.Conv2DInfo): number[] {
  const p = info.padInfo;
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outChannels,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
  ];
}

type Conv2DInfo = tf.backend_util.Conv2DInfo;

function infoOf(
  xShape: number[],
  filterShape: number[],
  attrs: Pick<Conv2DAttrs, 'strides' | 'pad' | 'dataFormat' | 'dimRoundingMode'> & {
    dilations?: Conv2DAttrs['dilations'];
  },
): Conv2DInfo | undefined {
  if (attrs.dataFormat !== 'NHWC' && attrs.dataFormat !== undefined) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  // oneDNN takes no negative pad (tfjs gives one for some 'valid' strides) and no empty tensor.
  const { top, left, bottom, right } = info.padInfo;
  if (Math.min(top, left, bottom, right) < 0 || info.outHeight < 1 || info.outWidth < 1 || info.batchSize < 1)
    return undefined;
  return info;
}

function conv2D(s: NativeSettings, original: KernelFunc): KernelFunc {
  return (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const info = floats(x, filter) ? infoOf(x.shape, filter.shape, args.attrs as unknown as Conv2DAttrs) : undefined;
    if (!info) return original(args);
    const wasm = args.backend as unknown as WasmBackendLike;
    const y = wasm.makeOutput(info.outShape, 'float32');
    s.addon.convForward(
      heap(wasm),
      convolutionShape(info),
      offset(wasm, x),
      offset(wasm, filter),
      -1,
      offset(wasm, y),
      false,
      s.threads,
    );
    return y;
  };
}

function fusedConv2D(s: NativeSettings, original: KernelFunc): KernelFunc {
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const attrs = args.attrs as unknown as FusedConv2DAttrs;
    const simple = (attrs.activation === 'linear' || attrs.activation === 'relu') && !preluActivationWeights;
    const info = simple && floats(x!, filter!) ? infoOf(x!.shape, filter!.shape, attrs) : undefined;
    if (!info || (bias && (bias.dtype !== 'float32' || bias.shape.join() !== `${info.outChannels}`)))
      return original(args);
    const wasm = args.backend as unknown as WasmBackendLike;
    const y = wasm.makeOutput(info.outShape, 'float32');
    const b = bias ? offset(wasm, bias) : -1;
    const relu = attrs.activation === 'relu';
    s.addon.convForward(
      heap(wasm),
      convolutionShape(info),
      offset(wasm, x!),
      offset(wasm, filter!),
      b,
      offset(wasm, y),
      relu,
      s.threads,
    );
    return y;
  };
}

function conv2DBackpropInput(s: NativeSettings, original: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const info = floats(dy, filter) ? infoOf([...attrs.inputShape], filter.shape, attrs) : undefined;
    if (!info) return original(args);
    const wasm = args.backend as unknown as WasmBackendLike;
    const dx = wasm.makeOutput([...attrs.inputShape], 'float32');
    s.addon.convBackwardData(
      heap(wasm),
      convolutionShape(info),
      offset(wasm, dy),
      offset(wasm, filter),
      offset(wasm, dx),
      s.threads,
    );
    return dx;
  };
}

function conv2DBackpropFilter(s: NativeSettings, original: KernelFunc): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    const info = floats(x, dy) ? infoOf(x.shape, [...attrs.filterShape], attrs) : undefined;
    if (!info) return original(args);
    const wasm = args.backend as unknown as WasmBackendLike;
    const dw = wasm.makeOutput([...attrs.filterShape], 'float32');
    s.addon.convBackwardWeights(
      heap(wasm),
      convolutionShape(info),
      offset(wasm, x),
      offset(wasm, dy),
      offset(wasm, dw),
      s.threads,
    );
    return dw;
  };
}

/** Batch norm's normalisation (forward, and again in fer-dag's hand-written gradient), per last-axis channel. */
function fusedBatchNorm(s: NativeSettings, original: KernelFunc): KernelFunc {
  return (args) => {
    const { x, mean, variance, offset: shift, scale } = args.inputs as Record<string, TensorInfo | undefined>;
    const { varianceEpsilon } = args.attrs as unknown as FusedBatchNormAttrs;
    const channels = x!.shape.at(-1) ?? 0;
    const size = (t: TensorInfo | undefined) => (t ? t.shape.reduce((a, b) => a * b, 1) : 1);
    const params = [mean!, variance!, shift, scale];
    const sizes = params.map(size) as [number, number, number, number];
    const fits = params.every((t) => !t || (t.dtype === 'float32' && (size(t) === 1 || t.shape.at(-1) === channels)));
    if (!floats(x!) || x!.shape.length < 1 || channels < 1 || !fits || sizes.some((n) => n !== 1 && n !== channels))
      return original(args);
    const wasm = args.backend as unknown as WasmBackendLike;
    const y = wasm.makeOutput([...x!.shape], 'float32');
    const rows = size(x) / channels;
    const at = (t: TensorInfo | undefined) => (t ? offset(wasm, t) : -1);
    s.addon.batchNorm(
      heap(wasm),
      rows,
      channels,
      at(x),
      at(mean),
      at(variance),
      at(shift),
      at(scale),
      sizes,
      varianceEpsilon,
      offset(wasm, y),
      s.threads,
    );
    return y;
  };
}

/** Sum or Mean over every axis before the kept ones (batch norm's moments, bias and scale gradients). */
function reduceLeadingAxes(mean: boolean) {
  return (s: NativeSettings, original: KernelFunc): KernelFunc =>
    (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const reduction = leadingAxesReduction(x, args.attrs as unknown as SumAttrs);
      if (!reduction) return original(args);
      const { rows, cols, outShape } = reduction;
      const wasm = args.backend as unknown as WasmBackendLike;
      const y = wasm.makeOutput(outShape, 'float32');
      s.addon.reduceRows(heap(wasm), rows, cols, offset(wasm, x), offset(wasm, y), mean);
      return y;
    };
}

/** The paper CNN's pooling gradient: 2×2 windows that tile the input; other pools go to wasm's kernel. */
function maxPoolGrad(s: NativeSettings, original: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolGradAttrs;
    if (!floats(dy, input) || input.shape.length !== 4) return original(args);
    const [n, h, w, c] = input.shape as [number, number, number, number];
    const info = tf.backend_util.computePool2DInfo([n, h, w, c], filterSize, strides, 1, pad, dimRoundingMode);
    // The addon's loop takes outHeight = ⌊h/2⌋, which tiling with no padding implies.
    if (!tilesIn2x2(info) || Math.min(n, c, info.outHeight, info.outWidth) < 1) return original(args);
    const wasm = args.backend as unknown as WasmBackendLike;
    const dx = wasm.makeOutput([n, h, w, c], 'float32');
    s.addon.maxPool2x2Grad(heap(wasm), n, h, w, c, offset(wasm, input), offset(wasm, dy), offset(wasm, dx));
    return dx;
  };
}

/** Shapes the batch-norm training kernels take: float x of rank ≥ 2, per-channel [C] parameters. */
function channelsOf(x: TensorInfo, ...params: TensorInfo[]): number | undefined {
  const channels = x.shape.at(-1) ?? 0;
  const fits = params.every((p) => p.shape.length === 1 && p.shape[0] === channels);
  return floats(x, ...params) && x.shape.length >= 2 && channels > 0 && fits ? channels : undefined;
}

function batchNormTraining(s: NativeSettings): KernelFunc {
  return (args) => {
    const { x, gamma, beta } = args.inputs as Record<string, TensorInfo>;
    const channels = channelsOf(x!, gamma!, beta!);
    if (!channels) throw new Error(`${BATCH_NORM_TRAINING}: expected float x [..., C] and gamma, beta [C]`);
    const wasm = args.backend as unknown as WasmBackendLike;
    const y = wasm.makeOutput([...x!.shape], 'float32');
    const mean = wasm.makeOutput([channels], 'float32');
    const variance = wasm.makeOutput([channels], 'float32');
    const rows = x!.shape.reduce((a, b) => a * b, 1) / channels;
    const { epsilon } = args.attrs as { epsilon: number };
    s.addon.batchNormTraining(
      heap(wasm),
      rows,
      channels,
      offset(wasm, x!),
      offset(wasm, gamma!),
      offset(wasm, beta!),
      epsilon,
      offset(wasm, y),
      offset(wasm, mean),
      offset(wasm, variance),
    );
    return [y, mean, variance];
  };
}

function batchNormTrainingGrad(s: NativeSettings): KernelFunc {
  return (args) => {
    const { x, dy, mean, variance, gamma } = args.inputs as Record<string, TensorInfo>;
    const channels = channelsOf(x!, mean!, variance!, gamma!);
    if (!channels || !floats(dy!) || dy!.shape.join() !== x!.shape.join())
      throw new Error(`${BATCH_NORM_TRAINING_GRAD}: expected float x and dy [..., C] and mean, variance, gamma [C]`);
    const wasm = args.backend as unknown as WasmBackendLike;
    const dx = wasm.makeOutput([...x!.shape], 'float32');
    const dgamma = wasm.makeOutput([channels], 'float32');
    const dbeta = wasm.makeOutput([channels], 'float32');
    const rows = x!.shape.reduce((a, b) => a * b, 1) / channels;
    const { epsilon } = args.attrs as { epsilon: number };
    const at = (t: TensorInfo) => offset(wasm, t);
    s.addon.batchNormTrainingGrad(
      heap(wasm),
      rows,
      channels,
      at(x!),
      at(dy!),
      at(mean!),
      at(variance!),
      at(gamma!),
      epsilon,
      at(dx),
      at(dgamma),
      at(dbeta),
    );
    return [dx, dgamma, dbeta];
  };
}

function reluGrad(s: NativeSettings): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as Record<string, TensorInfo>;
    if (!floats(x!, dy!) || x!.shape.join() !== dy!.shape.join())
      throw new Error(`${RELU_GRAD}: expected float x and dy of one shape`);
    const wasm = args.backend as unknown as WasmBackendLike;
    const dx = wasm.makeOutput([...x!.shape], 'float32');
    const n = x!.shape.reduce((a, b) => a * b, 1);
    if (n > 0) s.addon.reluGrad(heap(wasm), n, offset(wasm, x!), offset(wasm, dy!), offset(wasm, dx));
    return dx;
  };
}

const OVERRIDES: Record<string, (s: NativeSettings, original: KernelFunc) => KernelFunc> = {
  [tf.Conv2D]: conv2D,
  [tf.FusedConv2D]: fusedConv2D,
  [tf.Conv2DBackpropInput]: conv2DBackpropInput,
  [tf.Conv2DBackpropFilter]: conv2DBackpropFilter,
  [tf.BatchMatMul]: batchMatMul,
  [tf._FusedMatMul]: fusedMatMul,
  [tf.FusedBatchNorm]: fusedBatchNorm,
  [tf.Sum]: reduceLeadingAxes(false),
  [tf.Mean]: reduceLeadingAxes(true),
  [tf.MaxPoolGrad]: maxPoolGrad,
};

let registered: NativeSettings | undefined;

/**
 * Registers the `native` backend once per thread (after the wasm backend's module is imported and its own
 * overrides registered): a second instance of the wasm backend with every wasm kernel, the convolutions
 * replaced. The thread count is fixed at the first registration: it is part of what a replica computes.
 */
export function registerNativeBackend(settings: NativeSettings): void {
  if (registered) return;
  const factory = tf.findBackendFactory('wasm');
  if (!factory) throw new Error('the native backend builds on the wasm backend, which is not registered');
  tf.registerBackend('native', factory, 0);
  for (const config of tf.getKernelsForBackend('wasm')) {
    const override = OVERRIDES[config.kernelName];
    tf.registerKernel({
      ...config,
      backendName: 'native',
      kernelFunc: override ? override(settings, config.kernelFunc) : config.kernelFunc,
    });
  }
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAINING,
    backendName: 'native',
    kernelFunc: batchNormTraining(settings),
  });
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAINING_GRAD,
    backendName: 'native',
    kernelFunc: batchNormTrainingGrad(settings),
  });
  tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'native', kernelFunc: reluGrad(settings) });
  registered = settings;
}
