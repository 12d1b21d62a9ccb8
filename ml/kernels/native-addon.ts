import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The oneDNN addon (native/dnnl, built by `npm install` where Debian's libdnnl-dev is installed: see
 * scripts/build-native.mjs). Buffers are byte offsets into one ArrayBuffer, the wasm heap, so tfjs tensors are
 * read and written where they lie; `shape` is a convolution's 17 numbers (see convolutionShape).
 */
/** What the native backend's kernels are given: the addon, and oneDNN threads per call (per replica). */
export interface NativeSettings {
  addon: DnnlAddon;
  threads: number;
}

export interface DnnlAddon {
  readonly version: string;
  readonly maxThreads: number;
  /**
   * The instruction set oneDNN's kernels use here, as DNNL_MAX_CPU_ISA spells it in lower case ("avx2",
   * "avx512_core_bf16", …): kernels for another set sum in another order, so weights trained on them differ.
   */
  readonly cpuIsa: string;
  convForward(
    heap: ArrayBuffer,
    shape: number[],
    x: number,
    filter: number,
    bias: number,
    y: number,
    relu: boolean,
    threads: number,
  ): void;
  convBackwardData(heap: ArrayBuffer, shape: number[], dy: number, filter: number, dx: number, threads: number): void;
  convBackwardWeights(heap: ArrayBuffer, shape: number[], x: number, dy: number, dw: number, threads: number): void;
  /** c[b] = op(a[b]) · op(b[b]); `dims` is [batch, m, k, n] of the product. */
  matMul(
    heap: ArrayBuffer,
    dims: [number, number, number, number],
    transposeA: boolean,
    transposeB: boolean,
    a: number,
    b: number,
    c: number,
    threads: number,
  ): void;
  /** tfjs' FusedBatchNorm over the last axis; `sizes`: values in mean, variance, offset, scale (channels or 1). */
  batchNorm(
    heap: ArrayBuffer,
    rows: number,
    channels: number,
    x: number,
    mean: number,
    variance: number,
    offset: number,
    scale: number,
    sizes: [number, number, number, number],
    epsilon: number,
    y: number,
    threads: number,
  ): void;
  /** Training-mode batch norm of x [rows, channels]: y, and the batch's mean and (biased) variance. */
  batchNormTraining(
    heap: ArrayBuffer,
    rows: number,
    channels: number,
    x: number,
    gamma: number,
    beta: number,
    epsilon: number,
    y: number,
    mean: number,
    variance: number,
  ): void;
  /** Its gradient: dx, dγ, dβ given dy and the forward pass's mean and variance. */
  batchNormTrainingGrad(
    heap: ArrayBuffer,
    rows: number,
    channels: number,
    x: number,
    dy: number,
    mean: number,
    variance: number,
    gamma: number,
    epsilon: number,
    dx: number,
    dgamma: number,
    dbeta: number,
  ): void;
  /** One Adam step in place, as ml/training/adam.ts computes it (the same bytes); settings [lr, β1, β2, ε, c1, c2]. */
  adamStep(
    w: Float32Array<ArrayBufferLike>,
    m: Float32Array<ArrayBufferLike>,
    v: Float32Array<ArrayBufferLike>,
    g: Float32Array<ArrayBufferLike>,
    settings: [number, number, number, number, number, number],
  ): void;
  /**
   * mean[i] = (slots[0][i] + slots[1][i] + …) / examples: summed in float in slot order, divided in double and
   * rounded once, as replica-worker.ts's loop does (the same bytes); slots are read from their starts.
   */
  meanOfSlots(slots: Float32Array<ArrayBufferLike>[], examples: number, mean: Float32Array<ArrayBufferLike>): void;
  /** y[c] = Σ_r x[r, c] (or the mean), in double. */
  reduceRows(heap: ArrayBuffer, rows: number, cols: number, x: number, y: number, mean: boolean): void;
  /** dx = dy · step(x) over n floats (RELU_GRAD in fer-dag-kernels.ts). */
  reluGrad(heap: ArrayBuffer, n: number, x: number, dy: number, dx: number): void;
  /** MaxPoolGrad for 2×2 windows, stride 2, no padding, NHWC. */
  maxPool2x2Grad(
    heap: ArrayBuffer,
    n: number,
    h: number,
    w: number,
    c: number,
    x: number,
    dy: number,
    dx: number,
  ): void;
  /**
   * FP32 FLOP/s a tight FMA loop sustains on `threads` threads over about `milliseconds` ms (the peak): AVX-512
   * where oneDNN's kernels use it (`cpuIsa`), else AVX2.
   */
  peakFlops(threads: number, milliseconds: number): number;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Where node-gyp leaves the addon. */
export const ADDON_FILE = path.join(ROOT, 'native', 'dnnl', 'build', 'Release', 'fer_dnnl.node');

let loaded: { addon: DnnlAddon } | { reason: string } | undefined;

/** The addon, or why there is none (not built: no libdnnl-dev at install time; or it failed to load). */
export function loadDnnlAddon(): { addon: DnnlAddon } | { reason: string } {
  if (loaded) return loaded;
  if (process.env.FER_DAG_SKIP_NATIVE === '1') {
    loaded = { reason: 'FER_DAG_SKIP_NATIVE=1: the oneDNN addon is not used' };
  } else if (!fs.existsSync(ADDON_FILE)) {
    loaded = {
      reason: 'the oneDNN addon is not built (apt-get install libdnnl-dev, then npm install; see docs/stages/train.md)',
    };
  } else {
    try {
      loaded = { addon: createRequire(import.meta.url)(ADDON_FILE) as DnnlAddon };
    } catch (error) {
      loaded = { reason: `the oneDNN addon failed to load: ${(error as Error).message.split('\n')[0]}` };
    }
  }
  return loaded;
}
