import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
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

/**
 * Gradient kernels the tfjs wasm backend does not ship, so that models train on it.
 *
 * tfjs-backend-wasm 4.22 has the forward kernels and most gradients (Conv2DBackpropInput, MaxPoolGrad,
 * Step for ReLU's gradient, FusedBatchNorm's pieces) but not `Conv2DBackpropFilter`, so any conv layer's
 * weights cannot be trained there. Rather than a slow loop in JavaScript, the filter gradient is rewritten
 * as a forward convolution, which the backend runs with XNNPACK's SIMD kernels:
 *
 *   dW[i, j, c, o] = Σ_{n, y, x} X[n, y·s + i − pad, x·s + j − pad, c] · dY[n, y, x, o]
 *
 * is a convolution of X' = X transposed to [C, H, W, N] (batch C, channels N) with the filter
 * dY' = dY transposed to [Ho, Wo, N, O], dilated by the forward stride; its output [C, kh, kw, O]
 * transposed back is dW (or, where the patches fit in 32 MB, one patch-matrix product).
 *
 * Kernels the backend does have are replaced where they dominated a paper-CNN training step:
 * Conv2DBackpropInput (stride 1), MaxPoolGrad, Sum and Mean over leading axes, Identity (shared buffers)
 * and BatchMatMul with a transposed A; each wrapper passes the cases it does not handle to the original.
 * Every kernel is checked against the cpu backend in test/wasm-kernels.test.ts. A change to a kernel's
 * order of summation changes trained weights in the last bits: bump the train stage's version with it.
 */

/** Runs `body`, then frees every intermediate tensor it registered with `keep` (kernels get no tidy). */
function withTemporaries<T>(wasm: WasmBackendLike, body: (keep: (t: TensorInfo) => TensorInfo) => T): T {
  const temporaries: TensorInfo[] = [];
  try {
    return body((t) => (temporaries.push(t), t));
  } finally {
    for (const t of temporaries) wasm.disposeData(t.dataId);
  }
}

/**
 * [kh, kw, ci, co] → [kh, kw, co, ci] rotated by 180° in space, in one pass over the heap: the wasm
 * Reverse kernel took 110 ms for a 3×3×512×512 filter, four times the convolution's own overhead.
 */
function rotatedSwapped(backend: WasmBackendLike, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  const src = heapView(backend, filter);
  const dst = heapView(backend, out);
  const taps = kh * kw;
  for (let t = 0; t < taps; t++) {
    const from = (taps - 1 - t) * ci * co;
    const to = t * ci * co;
    for (let i = 0; i < ci; i++) {
      const row = from + i * co;
      for (let o = 0; o < co; o++) dst[to + o * ci + i] = src[row + o];
    }
  }
  return out;
}

function kernelOf(name: string): KernelFunc {
  const config = tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`the wasm backend has no ${name} kernel to build on`);
  return config.kernelFunc;
}

function call(
  name: string,
  inputs: Record<string, TensorInfo>,
  backend: unknown,
  attrs: NamedAttrMap = {},
): TensorInfo {
  return kernelOf(name)({ inputs, backend: backend as never, attrs }) as TensorInfo;
}

/**
 * [N, H, W, C] → [H, W, N, C]. Every C-long row moves whole, so this is N·H·W block copies; the wasm
 * Transpose kernel took 150 ms for the first layer's [64, 48, 48, 64] gradient, this about a tenth.
 */
function batchInside(backend: WasmBackendLike, t: TensorInfo): TensorInfo {
  const [n, h, w, c] = t.shape as [number, number, number, number];
  const out = backend.makeOutput([h, w, n, c], 'float32');
  const src = heapView(backend, t);
  const dst = heapView(backend, out);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < h * w; p++) {
      const from = (b * h * w + p) * c;
      dst.set(src.subarray(from, from + c), (p * n + b) * c);
    }
  }
  return out;
}

/** Which rewrite computes filter gradients: `auto` picks by size; the others are for tests and benchmarks. */
export type FilterGradientStrategy = 'auto' | 'patches' | 'batch-as-channels';
let filterGradientStrategy: FilterGradientStrategy = 'auto';
export function setFilterGradientStrategy(strategy: FilterGradientStrategy): void {
  filterGradientStrategy = strategy;
}
/** Patch matrices up to this many floats (32 MB) are built; larger ones (the paper CNN's 5×5 layer) are not. */
const MAX_PATCH_FLOATS = 8 * 1024 * 1024;

/**
 * The filter gradient as one matrix product, dW[(i, j, c), o] = Σ_q P[(i, j, c), q] · dY[q, o] over the
 * output positions q = (n, y, x), run as a 1×1 XNNPACK convolution whose filter is dY itself (no copy).
 * Each row of the patch matrix P is one input channel shifted by one filter tap. The batch-as-channels
 * rewrite below reads only `batch` floats per tap, which made it up to 1.8× slower than the forward
 * convolution for the deeper layers at 32 images per replica; here every dot product is N·Ho·Wo long.
 */
function filterGradientFromPatches(
  wasm: WasmBackendLike,
  backend: unknown,
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const [n, h, w, channels] = x.shape as [number, number, number, number];
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
  const { top, left } = info.padInfo;
  const positions = n * ho * wo;
  const rows = kh * kw * channels;
  return withTemporaries(wasm, (keep) => {
    const planes = keep(call('Transpose', { x }, backend, { perm: [3, 0, 1, 2] })); // [C, N, H, W]
    const patches = keep(wasm.makeOutput([1, 1, rows, positions], 'float32'));
    const dyMatrix = keep(call('Reshape', { x: dy }, backend, { shape: [1, 1, positions, dy.shape[3] as number] }));
    // Views only after the last allocation: a growing heap replaces the buffer under them.
    const src = heapView(wasm, planes);
    const dst = heapView(wasm, patches);
    let o = 0;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let c = 0; c < channels; c++) {
          const plane = c * n * h * w;
          for (let b = 0; b < n; b++) {
            for (let y = 0; y < ho; y++) {
              const r = y * sh + i - top;
              if (r < 0 || r >= h) {
                dst.fill(0, o, o + wo);
                o += wo;
                continue;
              }
              const line = plane + (b * h + r) * w;
              for (let xo = 0; xo < wo; xo++, o++) {
                const col = xo * sw + j - left;
                dst[o] = col >= 0 && col < w ? (src[line + col] as number) : 0;
              }
            }
          }
        }
      }
    }
    const product = keep(
      call('Conv2D', { x: patches, filter: dyMatrix }, backend, {
        strides: [1, 1],
        dilations: [1, 1],
        dataFormat: 'NHWC',
        pad: 'valid',
      } as unknown as NamedAttrMap),
    );
    return call('Reshape', { x: product }, backend, { shape: [kh, kw, channels, dy.shape[3] as number] });
  });
}

function conv2DBackpropFilter({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  if (tf.backend_util.convertConv2DDataFormat(dataFormat) !== 'channelsLast') {
    throw new Error(`Conv2DBackpropFilter on wasm supports dataFormat NHWC only, got ${dataFormat}`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
  const { top, left } = info.padInfo;
  const [, h, w] = x.shape;
  // Pad the far edges so the rewritten convolution yields exactly kh × kw taps: rows the forward
  // pass never reached (a 'valid' stride that does not divide the size) are cut off, never summed.
  const bottom = kh - 1 + (ho - 1) * sh + 1 - h - top;
  const right = kw - 1 + (wo - 1) * sw + 1 - w - left;
  const wasm = backend as unknown as WasmBackendLike;
  const patchFloats = kh * kw * (x.shape[3] as number) * (x.shape[0] as number) * ho * wo;
  if (filterGradientStrategy === 'patches' || (filterGradientStrategy === 'auto' && patchFloats <= MAX_PATCH_FLOATS)) {
    return filterGradientFromPatches(wasm, backend, x, dy, info);
  }
  return withTemporaries(wasm, (keep) => {
    let xt = keep(call('Transpose', { x }, backend, { perm: [3, 1, 2, 0] }));
    if (bottom < 0 || right < 0) {
      xt = keep(
        call('Slice', { x: xt }, backend, {
          begin: [0, 0, 0, 0],
          size: [xt.shape[0], h + Math.min(0, bottom), w + Math.min(0, right), xt.shape[3]],
        }),
      );
    }
    const dyt = keep(batchInside(wasm, dy));
    const taps = keep(
      call('Conv2D', { x: xt, filter: dyt }, backend, {
        strides: [1, 1],
        dilations: [sh, sw],
        dataFormat: 'NHWC',
        pad: [
          [0, 0],
          [top, Math.max(0, bottom)],
          [left, Math.max(0, right)],
          [0, 0],
        ],
      } as unknown as NamedAttrMap),
    );
    return call('Transpose', { x: taps }, backend, { perm: [1, 2, 0, 3] });
  });
}

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
    const { axis, keepDims } = attrs as unknown as SumAttrs;
    const axes = tf.util
      .parseAxisParam(axis, x.shape)
      .slice()
      .sort((a, b) => a - b);
    const k = axes.length;
    const size = x.shape.reduce((a, b) => a * b, 1);
    if (x.dtype !== 'float32' || size === 0 || k === 0 || k >= x.shape.length || axes.some((a, i) => a !== i)) {
      return original(args);
    }
    const kept = x.shape.slice(k);
    const cols = kept.reduce((a, b) => a * b, 1);
    const rows = size / cols;
    const wasm = backend as unknown as WasmBackendLike;
    const out = wasm.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
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
