import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, MaxPoolGradAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { heapView, type WasmBackendLike } from './wasm-heap.js';

/** Whether a pool's windows are 2×2 with stride 2 and no padding: disjoint tiles of the input. */
export function tilesIn2x2(info: tf.backend_util.Conv2DInfo): boolean {
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo, inHeight, inWidth, outHeight, outWidth } =
    info;
  return (
    filterHeight === 2 &&
    filterWidth === 2 &&
    strideHeight === 2 &&
    strideWidth === 2 &&
    padInfo.top === 0 &&
    padInfo.left === 0 &&
    2 * outHeight <= inHeight &&
    2 * outWidth <= inWidth
  );
}

/**
 * The wasm backend's MaxPoolGrad took ~250 ms for a [64, 48, 48, 64] activation (0.6–0.85 s of a
 * full paper-CNN step at batch 64). One pass in JavaScript over the heap, all channels of a window side
 * by side (NHWC keeps them adjacent), takes ~55 ms.
 *
 * The gradient goes where the cpu backend's `maxPoolPositions` puts it: to the first strictly greater
 * value in row-major window order, so on ties (the many zeros after a ReLU) the top-left one wins, and
 * a window of NaN or −∞ passes no gradient. Overlapping windows add up in dx.
 */
export function maxPoolGradWith(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') return original(args);
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      filterSize,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const wasm = backend as unknown as WasmBackendLike;
    const out = wasm.makeOutput(input.shape, 'float32');
    // Views only after makeOutput: growing the heap would leave earlier views on the old buffer.
    const x = heapView(wasm, input);
    const g = heapView(wasm, dy);
    const dx = heapView(wasm, out);
    (tilesIn2x2(info) ? maxPool2x2Grad : maxPoolGradAnyWindow)(x, g, dx, info);
    return out;
  };
}

/**
 * The paper CNN's pooling: 2×2 windows that tile the input, so each input value belongs to at most one
 * window and dx is written once, without the generic path's clearing and per-window bookkeeping.
 */
function maxPool2x2Grad(x: Float32Array, g: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo } = info;
  // Rows and columns no window reaches ('valid' on an odd size) get no gradient.
  if (2 * ho < h || 2 * wo < w) dx.fill(0);
  const below = w * c;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let yr = 0; yr < ho; yr++) {
      for (let yc = 0; yc < wo; yc++) {
        const p00 = ((b * h + 2 * yr) * w + 2 * yc) * c;
        const p01 = p00 + c;
        const p10 = p00 + below;
        const p11 = p10 + c;
        for (let d = 0; d < c; d++, o++) {
          // −∞ and a strict > as in maxPoolPositions: NaN never wins, ties keep the earlier tap.
          let max = -Infinity;
          let k = -1;
          let v = x[p00 + d];
          if (v > max) {
            max = v;
            k = 0;
          }
          v = x[p01 + d];
          if (v > max) {
            max = v;
            k = 1;
          }
          v = x[p10 + d];
          if (v > max) {
            max = v;
            k = 2;
          }
          v = x[p11 + d];
          if (v > max) k = 3;
          const grad = g[o];
          dx[p00 + d] = k === 0 ? grad : 0;
          dx[p01 + d] = k === 1 ? grad : 0;
          dx[p10 + d] = k === 2 ? grad : 0;
          dx[p11 + d] = k === 3 ? grad : 0;
        }
      }
    }
  }
}

/** Any window, stride and padding: windows are clipped to the input, as maxPoolPositions clips them. */
function maxPoolGradAnyWindow(
  x: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top, left } = info.padInfo;
  dx.fill(0);
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let yr = 0; yr < ho; yr++) {
      const r0 = Math.max(0, yr * sh - top);
      const r1 = Math.min(h, yr * sh - top + fh);
      for (let yc = 0; yc < wo; yc++) {
        const c0 = Math.max(0, yc * sw - left);
        const c1 = Math.min(w, yc * sw - left + fw);
        best.fill(-Infinity);
        at.fill(-1);
        for (let r = r0; r < r1; r++) {
          for (let col = c0; col < c1; col++) {
            const base = ((b * h + r) * w + col) * c;
            for (let d = 0; d < c; d++) {
              const v = x[base + d];
              if (v > best[d]) {
                best[d] = v;
                at[d] = base + d;
              }
            }
          }
        }
        for (let d = 0; d < c; d++, o++) {
          const i = at[d];
          if (i >= 0) dx[i] += g[o];
        }
      }
    }
  }
}
