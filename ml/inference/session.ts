import * as os from 'node:os';
import type * as Ort from 'onnxruntime-node';

/**
 * onnxruntime-node, loaded on first use. It is a dependency, but its native binding may fail to load (another
 * libc, a stripped install), so callers get the reason and fall back to tfjs rather than fail a run.
 */

/** Where inference runs: an onnxruntime execution provider, or tfjs on the stage's `backend` (the old path). */
export type Provider = 'cpu' | 'cuda' | 'webgpu' | 'tfjs';
export const PROVIDERS: readonly Provider[] = ['cpu', 'cuda', 'webgpu', 'tfjs'];

export interface OnnxRuntime {
  readonly ort: typeof Ort;
  readonly version: string;
}

let loading: Promise<OnnxRuntime | { reason: string }> | undefined;

/** The module, or why it cannot be used here. */
export function loadOnnxRuntime(): Promise<OnnxRuntime | { reason: string }> {
  loading ??= (async () => {
    // onnxruntime 1.30 on Linux starts Microsoft's telemetry when it loads: it would try to upload over HTTPS and
    // leaves mat-debug-<pid>.log and .ses in TMPDIR. A pipeline tool has no business phoning home, and a run
    // must touch only its own folder and store; the library reads this variable once, at load.
    process.env.ORT_DISABLE_TELEMETRY ??= '1';
    try {
      const imported = (await import('onnxruntime-node')) as typeof Ort & { default?: typeof Ort };
      const ort = imported.default ?? imported;
      // Its own log lines (a provider library that is not there, in red) would come before, and repeat, the
      // error fer-dag reports with the fix; sessions log errors only too.
      ort.env.logLevel = 'fatal';
      return { ort, version: ort.env.versions.common ?? 'unknown' };
    } catch (error) {
      const first = (error as Error).message.split('\n')[0] ?? '';
      return {
        reason:
          (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND'
            ? 'onnxruntime-node is not installed'
            : `onnxruntime-node failed to load: ${first}`,
      };
    }
  })();
  return loading;
}

export interface SessionOptions {
  provider: Exclude<Provider, 'tfjs'>;
  /** Threads for one session's operators; 0: the cores this process may use divided by `sharing`. */
  threads: number;
  /** How many threads (workers) run sessions at once in this process, to split the cores between them. */
  sharing?: number;
}

export function sessionThreads(options: SessionOptions): number {
  if (options.threads > 0) return options.threads;
  return Math.max(1, Math.floor(os.availableParallelism() / Math.max(1, options.sharing ?? 1)));
}

/** A loaded ONNX model with one input. */
export interface OnnxModel {
  readonly inputName: string;
  readonly outputNames: readonly string[];
  /** Output tensors in `outputNames` order (or in the order of `names`). */
  run(input: Float32Array, dims: readonly number[], names?: readonly string[]): Promise<OutputTensor[]>;
  release(): Promise<void>;
}

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

export class ProviderUnavailableError extends Error {}

/**
 * A session on the provider asked for. A GPU provider that is not there is an error naming the fix, never a
 * silent fall back to the CPU: a user who asked for CUDA should not wait hours without knowing.
 */
export async function openOnnxModel(bytes: Uint8Array, options: SessionOptions): Promise<OnnxModel> {
  const loaded = await loadOnnxRuntime();
  if ('reason' in loaded) throw new ProviderUnavailableError(`runtime provider ${options.provider}: ${loaded.reason}`);
  const { ort } = loaded;
  if (options.provider !== 'cpu') {
    const listed = ort.listSupportedBackends().find((b) => b.name === options.provider);
    if (!listed)
      throw new ProviderUnavailableError(
        `runtime provider ${options.provider}: onnxruntime-node ${loaded.version} has no such execution provider here`,
      );
  }
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: [options.provider],
      intraOpNumThreads: sessionThreads(options),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3, // errors only: its shape-merging warnings are not the user's business
      // Idle pool threads sleep rather than spin: stages run two at a time beside tfjs worker threads, and a
      // spinning thread takes their core (measured: a 2-thread session between calls used 1.8× the CPU time).
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? '';
    if (options.provider === 'cpu') throw error;
    throw new ProviderUnavailableError(
      `runtime: { provider: ${options.provider} } could not start (${message}); ` +
        (options.provider === 'cuda'
          ? 'install the CUDA provider (docs/inference.md) or set runtime: { provider: cpu }'
          : 'set runtime: { provider: cpu }'),
    );
  }
  const inputName = session.inputNames[0];
  if (!inputName || session.inputNames.length !== 1)
    throw new Error(`the ONNX model has inputs [${session.inputNames.join(', ')}]; one was expected`);
  return {
    inputName,
    outputNames: session.outputNames,
    async run(input, dims, names = session.outputNames) {
      const feeds = { [inputName]: new ort.Tensor('float32', input, [...dims]) };
      const results = await session.run(feeds, [...names]);
      return names.map((name) => {
        const t = results[name]!;
        return { data: t.data as Float32Array, dims: t.dims.map(Number) };
      });
    },
    release: () => session.release(),
  };
}
