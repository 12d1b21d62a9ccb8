import type { TensorInfo } from '@tensorflow/tfjs-core';

/** What the wasm kernels use of tfjs' wasm backend: its tensors' places in the heap and its allocator. */
export interface WasmBackendLike {
  disposeData(dataId: object): boolean;
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: { HEAPF32: Float32Array };
}

/** A float32 tensor's values inside the wasm heap (valid until the next allocation may grow the heap). */
export function heapView(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error('tensor is not on the wasm backend');
  const size = t.shape.reduce((a, b) => a * b, 1);
  return backend.wasm.HEAPF32.subarray(data.memoryOffset / 4, data.memoryOffset / 4 + size);
}

/** A tensor's byte offset in the wasm heap. */
export const offset = (wasm: WasmBackendLike, t: TensorInfo): number => wasm.dataIdMap.get(t.dataId)!.memoryOffset;
export const floats = (...ts: TensorInfo[]) => ts.every((t) => t.dtype === 'float32');
/** The heap after the last allocation (growing it replaces the buffer). */
export const heap = (wasm: WasmBackendLike): ArrayBuffer => wasm.wasm.HEAPF32.buffer as ArrayBuffer;
