import { readFileSync } from 'node:fs';
import type { Memo } from '../../cache/memo.js';
import type { StageContext } from '../../engine/stage.js';
import { sha256, type Hash } from '../../cache/hash.js';
import { humanModelFileMap, readModel, readModelWeights } from './model-files.js';
import { loadHumanModel } from './models.js';
import {
  convertTfjsGraph,
  CONVERTER_VERSION,
  REWRITES_VERSION,
  UnsupportedModelError,
} from '../onnx/from-tfjs-graph.js';
import { loadOnnxRuntime, openOnnxModel, ProviderUnavailableError, type Provider } from '../inference/session.js';
import { graphModelInference, onnxInference, type InferenceModel } from '../inference/model.js';

/** How a stage or the server wants its models run (the `runtime` param; docs/inference.md). */
export interface InferenceSettings {
  provider: Provider;
  /** Threads per onnxruntime session; 0: the cores divided by `sharing`. */
  threads: number;
  /** Sessions running at once in this process (worker threads), to split the cores between them. */
  sharing?: number;
}

/** Where converted models are kept: the store's per-item memo and blobs (a stage's or the server's). */
export interface ConvertedModelStore {
  memo: Memo;
  put(bytes: Uint8Array): Hash;
  has(hash: Hash): boolean;
  path(hash: Hash): string;
  /**
   * Hashes of model files already computed, by file name as humanModelFileMap names them (a stage's
   * `ctx.modelHashes`): those are not read and hashed again. Files missing here are.
   */
  knownHashes?: Readonly<Record<string, Hash>>;
}

/** A converted model on disk, or why there is none (the model then runs on tfjs). */
export type ConvertedModelFile = { file: string } | { reason: string };

/** The ONNX bytes of `name`, or why it does not convert. */
function convert(name: string): { bytes: Uint8Array } | { reason: string } {
  const { json, weights } = readModelWeights(name);
  try {
    return { bytes: convertTfjsGraph(name, json, weights).bytes };
  } catch (error) {
    if (!(error instanceof UnsupportedModelError)) throw error;
    return { reason: error.message };
  }
}

/**
 * `name` converted to ONNX, memoised by its files' hashes and the converter's version, so a stage converts each
 * model once per store rather than once per run and worker, and a memoised one costs no read of its weights.
 */
export function convertedHumanModel(name: string, store: ConvertedModelStore): ConvertedModelFile {
  const files = Object.fromEntries(
    Object.entries(humanModelFileMap(name)).map(([file, at]) => [
      file,
      store.knownHashes?.[file] ?? sha256(readFileSync(at)),
    ]),
  );
  const key = { converter: CONVERTER_VERSION, rewrites: REWRITES_VERSION, model: name, files };
  const known = store.memo.get<{ blob: Hash } | { reason: string }>(key);
  if (known && 'reason' in known) return known;
  if (known && store.has(known.blob)) return { file: store.path(known.blob) };
  const converted = convert(name);
  if ('reason' in converted) {
    store.memo.set(key, converted);
    return converted;
  }
  const blob = store.put(converted.bytes);
  store.memo.set(key, { blob }, [blob]);
  return { file: store.path(blob) };
}

/** The NHWC input shape the graph's Placeholder declares (-1 where free). */
export function graphInputShape(name: string): number[] {
  const topology = readModel(name).json.modelTopology as {
    node?: Array<{ op: string; attr?: { shape?: { shape?: { dim?: Array<{ size: string }> } } } }>;
  };
  const placeholder = topology.node?.find((n) => n.op === 'Placeholder');
  return (placeholder?.attr?.shape?.shape?.dim ?? []).map((d) => (Number(d.size) > 0 ? Number(d.size) : -1));
}

/**
 * A human model ready to predict: on onnxruntime from `converted` (a file from convertedHumanModel, or
 * converted here when none is given), else on the current tfjs backend with the reason kept. A GPU provider
 * that cannot start is an error, never a silent fall back.
 */
export async function loadHumanInference(name: string, settings: InferenceSettings): Promise<InferenceModel> {
  if (settings.provider === 'tfjs') return graphModelInference(name, await loadHumanModel(name));
  const runtime = await loadOnnxRuntime();
  let reason: string | undefined;
  if ('reason' in runtime) reason = runtime.reason;
  let bytes: Uint8Array | undefined;
  if (!reason) {
    const converted = convertInMemory(name);
    if ('reason' in converted) reason = `cannot convert ${name}: ${converted.reason}`;
    else bytes = converted.bytes;
  }
  if (reason !== undefined || !bytes) {
    if (settings.provider !== 'cpu')
      throw new ProviderUnavailableError(`runtime provider ${settings.provider}: ${reason}`);
    return graphModelInference(name, await loadHumanModel(name), reason);
  }
  const options = { provider: settings.provider, threads: settings.threads, ...sharing(settings) };
  const model = await openOnnxModel(bytes, options);
  const version = 'version' in runtime ? runtime.version : '?';
  // Threads are not in the words: test/onnx-runtime.test.ts checks that 1 and 2 threads give the same bytes.
  return onnxInference(name, model, `onnxruntime-node ${version} ${settings.provider}`, graphInputShape(name));
}

const sharing = (s: InferenceSettings) => (s.sharing !== undefined ? { sharing: s.sharing } : {});

/** Conversions without a store (tests, benchmarks), kept for this thread's life. */
const inMemory = new Map<string, ReturnType<typeof convert>>();
function convertInMemory(name: string): ReturnType<typeof convert> {
  let known = inMemory.get(name);
  if (!known) inMemory.set(name, (known = convert(name)));
  return known;
}

/** A stage's store as the place for converted models (its blobs are referenced by the stage's output). */
export function stageModelStore(
  ctx: Pick<StageContext<unknown>, 'memo' | 'output' | 'hasBlob' | 'blobPath' | 'modelHashes'>,
): ConvertedModelStore {
  return {
    knownHashes: ctx.modelHashes,
    memo: ctx.memo('onnx-models'),
    put: (bytes) => ctx.output.putBlob(bytes),
    has: (hash) => ctx.hasBlob(hash),
    path: (hash) => ctx.blobPath(hash),
  };
}

/** A store outside any stage (the server's, a benchmark's) as the place for converted models. */
export function storeModelStore(store: {
  memo(namespace: string): Memo;
  putBytes(data: Uint8Array): Hash;
  hasBlob(hash: Hash): boolean;
  blobPath(hash: Hash): string;
}): ConvertedModelStore {
  return {
    memo: store.memo('onnx-models'),
    put: (bytes) => store.putBytes(bytes),
    has: (hash) => store.hasBlob(hash),
    path: (hash) => store.blobPath(hash),
  };
}
