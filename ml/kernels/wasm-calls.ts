import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { heapView, type WasmBackendLike } from './wasm-heap.js';

// What the wasm kernel rewrites share: calling the backend's own kernels, freeing temporaries, and two layout
// changes done in one pass over the heap.

/** Runs `body`, then frees every intermediate tensor it registered with `keep` (kernels get no tidy). */
export function withTemporaries<T>(wasm: WasmBackendLike, body: (keep: (t: TensorInfo) => TensorInfo) => T): T {
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
export function rotatedSwapped(backend: WasmBackendLike, filter: TensorInfo): TensorInfo {
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

export function kernelOf(name: string): KernelFunc {
  const config = tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`the wasm backend has no ${name} kernel to build on`);
  return config.kernelFunc;
}

export function call(
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
export function batchInside(backend: WasmBackendLike, t: TensorInfo): TensorInfo {
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
