import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropInputAttrs,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  SumAttrs,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import { clampAgainstScalarWith } from './wasm-clamp.js';
import { heapView, type WasmBackendLike } from './wasm-heap.js';
import { maxPoolGradWith } from './wasm-max-pool-grad.js';
import { rotatedSwapped, call, withTemporaries } from './wasm-calls.js';
import { conv2DBackpropFilter } from './wasm-filter-gradient.js';

/**
 * Gradient kernels the tfjs wasm backend does not ship, so that models train on it.
 *
 * tfjs-backend-wasm 4.22 has the forward kernels and most gradients (Conv2DBackpropInput, MaxPoolGrad,
 * Step for ReLU's gradient, FusedBatchNorm's pieces) but not `Conv2DBackpropFilter`, so any conv layer's
 * weights cannot be trained there. Rather than a slow loop in JavaScript, the filter gradient is rewritten
 * as a forward convolution (wasm-filter-gradient.ts).
 *
 * Kernels the backend does have are replaced where they dominated a paper-CNN training step:
 * Conv2DBackpropInput (stride 1), MaxPoolGrad, Sum and Mean over leading axes, Identity (shared buffers)
 * and BatchMatMul with a transposed A; each wrapper passes the cases it does not handle to the original.
 * Every kernel is checked against the cpu backend in test/wasm-kernels.test.ts. A change to a kernel's
 * order of summation changes trained weights in the last bits: bump the train stage's version with it.
 */

/**
 * The wasm backend's own Conv2DBackpropInput is a direct loop, ten times slower than its forward
 * convolution, and it dominated a training step. For stride 1 the input gradient is a forward
 * convolution of dY with the filter rotated by 180° and its channel axes swapped, padded by
 * k − 1 − pad; other strides keep the original kernel.
 */
function conv2DBackpropInputWith(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      tf.backend_util.convertConv2DDataFormat(dataFormat),
    );
    const { filterHeight: kh, filterWidth: kw, inHeight: h, inWidth: w, outHeight: ho, outWidth: wo } = info;
    const top = kh - 1 - info.padInfo.top;
    const left = kw - 1 - info.padInfo.left;
    const bottom = h - ho + kh - 1 - top;
    const right = w - wo + kw - 1 - left;
    if (
      info.dataFormat !== 'channelsLast' ||
      info.strideHeight !== 1 ||
      info.strideWidth !== 1 ||
      Math.min(top, left, bottom, right) < 0
    ) {
      return original(args);
    }
    const wasm = backend as unknown as WasmBackendLike;
    return withTemporaries(wasm, (keep) => {
      const swapped = keep(rotatedSwapped(wasm, filter));
      return call('Conv2D', { x: dy, filter: swapped }, backend, {
        strides: [1, 1],
        dilations: [1, 1],
        dataFormat: 'NHWC',
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
      } as unknown as NamedAttrMap);
    });
  };
}

export interface LeadingAxesReduction {
  /** The reduction as rows × cols: the reduced axes' product by the kept ones'. */
  rows: number;
  cols: number;
  outShape: number[];
}

/** A float32 Sum or Mean over every axis before the kept ones (at least one of each), or undefined. */
export function leadingAxesReduction(x: TensorInfo, attrs: SumAttrs): LeadingAxesReduction | undefined {
  const axes = [...tf.util.parseAxisParam(attrs.axis, x.shape)].sort((a, b) => a - b);
  const k = axes.length;
  const size = x.shape.reduce((a, b) => a * b, 1);
  if (x.dtype !== 'float32' || size === 0 || k === 0 || k >= x.shape.length || axes.some((a, i) => a !== i))
    return undefined;
  const kept = x.shape.slice(k);
  const cols = kept.reduce((a, b) => a * b, 1);
  return { rows: size / cols, cols, outShape: attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept };
}

/**
 * Sum over leading axes (the batch-norm gradient's [0, 1, 2] of NHWC): the wasm kernel first transposes
 * the whole tensor so the axes are innermost, which cost more than the sum (~40 ms for [64, 48, 48, 64],
 * ~10 ms here; 0.7 s of a full step down to 0.2 s). Adding rows into per-column float64 accumulators
 * reads the tensor once in place, and rounds like the cpu backend, which also sums in float64. Anything
 * else (other axes, other dtypes) keeps the original kernel.
 */
function reduceLeadingAxesWith(original: KernelFunc, mean: boolean): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs as { x: TensorInfo };
    const reduction = leadingAxesReduction(x, attrs as unknown as SumAttrs);
    if (!reduction) return original(args);
    const { rows, cols, outShape } = reduction;
    const wasm = backend as unknown as WasmBackendLike;
    const out = wasm.makeOutput(outShape, 'float32');
    const src = heapView(wasm, x);
    const acc = new Float64Array(cols);
    // Four rows per pass over the accumulators: V8 does not vectorise, and the loads and stores of
    // acc were half the time.
    let r = 0;
    for (; r + 4 <= rows; r += 4) {
      const i = r * cols;
      for (let j = 0; j < cols; j++) {
        const p = i + j;
        acc[j] += src[p] + src[p + cols] + (src[p + 2 * cols] + src[p + 3 * cols]);
      }
    }
    for (; r < rows; r++) {
      for (let j = 0; j < cols; j++) acc[j] += src[r * cols + j];
    }
    if (mean) for (let j = 0; j < cols; j++) acc[j] /= rows;
    heapView(wasm, out).set(acc);
    return out;
  };
}

/**
 * tfjs clones every tensor it saves for the backward pass (243 per paper-CNN step) through Identity, and
 * the wasm Identity copies the data (0.15 s a step). No kernel writes into its inputs and a variable's
 * assign swaps buffers rather than writing them, so sharing the buffer with a reference count is safe:
 * it is what the cpu backend's Identity does. Strings keep the original kernel.
 */
function identityWith(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return original(args);
    (args.backend as unknown as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/**
 * Aᵀ·B (a dense layer's weight gradient, xᵀ·dy) as a 1×1 XNNPACK convolution of Aᵀ with B as the filter:
 * the wasm BatchMatMul walks A's columns with a stride, 88 ms for [32, 4608]ᵀ·[32, 256], this 30 ms. Only
 * single matrices (batch 1) with transposeA and not transposeB; everything else keeps the original kernel.
 */
function matMulTransposedAWith(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const batchOf = (t: TensorInfo): number => t.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    if (
      !transposeA ||
      transposeB ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      batchOf(a) !== 1 ||
      batchOf(b) !== 1
    )
      return original(args);
    const [k, m] = a.shape.slice(-2) as [number, number];
    const n = b.shape.at(-1) as number;
    const wasm = backend as unknown as WasmBackendLike;
    return withTemporaries(wasm, (keep) => {
      const aMatrix = keep(call('Reshape', { x: a }, backend, { shape: [k, m] }));
      const aT = keep(call('Transpose', { x: aMatrix }, backend, { perm: [1, 0] }));
      const x = keep(call('Reshape', { x: aT }, backend, { shape: [1, 1, m, k] }));
      const filter = keep(call('Reshape', { x: b }, backend, { shape: [1, 1, k, n] }));
      const product = keep(
        call('Conv2D', { x, filter }, backend, {
          strides: [1, 1],
          dilations: [1, 1],
          dataFormat: 'NHWC',
          pad: 'valid',
        } as unknown as NamedAttrMap),
      );
      const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
      return call('Reshape', { x: product }, backend, { shape: [...outer, m, n] });
    });
  };
}

const sumWith = (original: KernelFunc): KernelFunc => reduceLeadingAxesWith(original, false);
/** Mean over leading axes: batch-norm's moments in every training step, with the same transpose cost. */
const meanWith = (original: KernelFunc): KernelFunc => reduceLeadingAxesWith(original, true);

export const wasmGradientKernels: KernelConfig[] = [
  { kernelName: tf.Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2DBackpropFilter },
];

/** Kernels the wasm backend has, replaced by wrappers that handle the common case and defer the rest. */
const wasmOverrides: Array<[string, (original: KernelFunc) => KernelFunc]> = [
  [tf.Conv2DBackpropInput, conv2DBackpropInputWith],
  [tf.MaxPoolGrad, maxPoolGradWith],
  [tf.Sum, sumWith],
  [tf.Mean, meanWith],
  [tf.Identity, identityWith],
  [tf.BatchMatMul, matMulTransposedAWith],
  [tf.Maximum, clampAgainstScalarWith('max')],
  [tf.Minimum, clampAgainstScalarWith('min')],
];

let registered = false;

/** Registers the kernels once per process (tfjs keeps its kernel registry per process, not per backend instance). */
export function registerWasmGradientKernels(): void {
  if (registered) return;
  for (const config of wasmGradientKernels) {
    if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  }
  for (const [name, wrap] of wasmOverrides) {
    const original = tf.getKernel(name, 'wasm');
    if (!original) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...original, kernelFunc: wrap(original.kernelFunc) });
  }
  registered = true;
}
