import * as tf from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { heapView, type WasmBackendLike } from './wasm-heap.js';
import { batchInside, call, withTemporaries } from './wasm-calls.js';

/*
 * Conv2DBackpropFilter, which tfjs-backend-wasm does not ship, rewritten as a forward convolution that the
 * backend runs with XNNPACK's SIMD kernels:
 *
 *   dW[i, j, c, o] = Σ_{n, y, x} X[n, y·s + i − pad, x·s + j − pad, c] · dY[n, y, x, o]
 *
 * is a convolution of X' = X transposed to [C, H, W, N] (batch C, channels N) with the filter
 * dY' = dY transposed to [Ho, Wo, N, O], dilated by the forward stride; its output [C, kh, kw, O]
 * transposed back is dW (or, where the patches fit in 32 MB, one patch-matrix product).
 */

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

export function conv2DBackpropFilter({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
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
