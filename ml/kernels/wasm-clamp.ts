import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

interface WasmHeap {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: { HEAPF32: Float32Array };
}

const sizeOf = (t: TensorInfo): number => t.shape.reduce((a, b) => a * b, 1);

/**
 * Maximum and Minimum against a single number (relu6 written as max(x, 0) then min(·, 6), as in the faceres
 * graph) run as ClipByValue, which the wasm backend does with XNNPACK's SIMD clamp: its broadcasting
 * Maximum took 150 ms for a [16, 112, 112, 64] tensor against a scalar, the clamp 3 ms, and the two were
 * half of faceres' time. max(x, c) = clamp(x, c, +∞) and min(x, c) = clamp(x, −∞, c) exactly, so no output
 * changes. Every other case (two tensors, other dtypes, a scalar of higher rank) keeps the original kernel.
 */
export function clampAgainstScalarWith(kind: 'max' | 'min'): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const [scalar, x] = sizeOf(b) === 1 ? [b, a] : sizeOf(a) === 1 ? [a, b] : [undefined, undefined];
    if (!scalar || !x || a.dtype !== 'float32' || b.dtype !== 'float32' || scalar.shape.length > x.shape.length)
      return original(args);
    const heap = args.backend as unknown as WasmHeap;
    const offset = heap.dataIdMap.get(scalar.dataId)?.memoryOffset;
    if (offset === undefined) return original(args);
    const c = heap.wasm.HEAPF32[offset / 4] as number;
    if (Number.isNaN(c)) return original(args);
    const clip = tf.getKernel(tf.ClipByValue, 'wasm');
    if (!clip) return original(args);
    const attrs =
      kind === 'max' ? { clipValueMin: c, clipValueMax: Infinity } : { clipValueMin: -Infinity, clipValueMax: c };
    return clip.kernelFunc({ inputs: { x }, backend: args.backend, attrs });
  };
}
