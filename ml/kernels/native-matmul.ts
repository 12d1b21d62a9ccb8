import type { BatchMatMulAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeSettings } from './native-addon.js';
import { floats, heap, offset, type WasmBackendLike } from './wasm-heap.js';

// The native backend's matrix products (native-kernels.ts registers them): oneDNN's matmul on the wasm heap.

/** The product's dimensions where oneDNN's matmul takes it: float operands of the same batch shape. */
function matMulDims(args: Parameters<KernelFunc>[0]) {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  const outer = a.shape.slice(0, -2);
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const [kb, n] = transposeB ? [bc, br] : [br, bc];
  const batch = outer.reduce((x, y) => x * y, 1);
  const sameBatch = outer.join() === b.shape.slice(0, -2).join();
  if (!floats(a, b) || a.shape.length < 2 || !sameBatch || k !== kb || Math.min(batch, m, k, n) < 1) return undefined;
  return { a, b, transposeA, transposeB, outer, batch, m, k, n };
}

function nativeMatMul(s: NativeSettings, wasm: WasmBackendLike, d: NonNullable<ReturnType<typeof matMulDims>>) {
  const c = wasm.makeOutput([...d.outer, d.m, d.n], 'float32');
  s.addon.matMul(
    heap(wasm),
    [d.batch, d.m, d.k, d.n],
    d.transposeA,
    d.transposeB,
    offset(wasm, d.a),
    offset(wasm, d.b),
    offset(wasm, c),
    s.threads,
  );
  return c;
}

/** Dense layers' products and both their gradients (one operand transposed), batched or not. */
export function batchMatMul(s: NativeSettings, original: KernelFunc): KernelFunc {
  return (args) => {
    const dims = matMulDims(args);
    return dims ? nativeMatMul(s, args.backend as unknown as WasmBackendLike, dims) : original(args);
  };
}

/**
 * Dense layers' forward pass (tfjs-layers fuses the bias, and ReLU where a layer has it, into one matMul): the
 * product on oneDNN, then the bias and activation in one pass. wasm's kernel packs the weights for XNNPACK
 * on every new weight tensor, and training makes one a step: 1.5–2 ms for a transfer head's 256×512 layer,
 * against 0.1 ms here. Other activations, PReLU weights and broadcast biases go to wasm's kernel.
 */
export function fusedMatMul(s: NativeSettings, original: KernelFunc): KernelFunc {
  return (args) => {
    const { bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const { activation } = args.attrs as unknown as { activation: string };
    const dims = matMulDims(args);
    const n = dims?.n ?? 0;
    const plainBias = !bias || (bias.dtype === 'float32' && bias.shape.reduce((x, y) => x * y, 1) === n);
    if (!dims || preluActivationWeights || !plainBias || (activation !== 'linear' && activation !== 'relu'))
      return original(args);
    const wasm = args.backend as unknown as WasmBackendLike;
    const c = nativeMatMul(s, wasm, dims);
    if (!bias && activation === 'linear') return c;
    const size = dims.batch * dims.m * n;
    const out = new Float32Array(heap(wasm), offset(wasm, c), size);
    const add = bias ? new Float32Array(heap(wasm), offset(wasm, bias), n) : new Float32Array(n);
    const relu = activation === 'relu';
    // float32 + float32 in a double, rounded once on store: the float32 sum, as wasm's kernel makes it.
    for (let i = 0, j = 0; i < size; i++, j = j + 1 === n ? 0 : j + 1) {
      const v = (out[i] as number) + (add[j] as number);
      out[i] = relu && v < 0 ? 0 : v;
    }
    return c;
  };
}
