import type { BlobSink } from '../cache/blob-sink.js';
import type { Hash } from '../cache/hash.js';
import type { Memo } from '../cache/memo.js';
import type { Shard } from '../lib/shard.js';
import type { Tree, UnreadableEntry } from '../cache/tree.js';

import type { CheckOutcome } from './checks.js';
import type { StageFailure } from './events.js';

export type { CheckOutcome, CheckSeverity, CheckSpec } from './checks.js';

/** A failure the user caused and can fix (bad input data, a wrong option): shown as its message, no stack trace. */
export class StageInputError extends Error {}

/**
 * A stage's work failed and its message says all there is to say (a program exited 1 and its stderr is in the
 * message): the engine reports it with its `reason`, as is, without a stack trace.
 */
export class StageFailedError extends Error {
  constructor(
    message: string,
    readonly reason: Exclude<StageFailure, 'cancelled' | 'check-failed'> = 'command-failed',
  ) {
    super(message);
  }
}

/** A stage entry of the pipeline after validation, with its schema's defaults applied. */
export type StageEntry = Record<string, unknown> & { type: string };

/** Something a stage reads: an upstream stage's output tree or a source dataset's files. */
export interface InputView {
  readonly name: string;
  readonly kind: 'stage' | 'dataset';
  readonly files: Tree;
  readonly treeHash: Hash;
  /** For a dataset: its folder or file on disk (sources are read in place, never copied or modified). */
  readonly path?: string;
  /** For a dataset: its entry in the pipeline (`format`, `labels`, …). */
  readonly options?: Record<string, unknown>;
  /** For a dataset folder: entries that are not readable files (a symlink loop, a dangling link), to list. */
  readonly unreadable?: readonly UnreadableEntry[];
  /**
   * For an upstream stage with `checks:`, read by a stage type with `readsChecks`: the outcomes of its checks
   * (whose specs are then part of the reader's key). Absent for any other reader.
   */
  readonly checks?: readonly CheckOutcome[];
  readFile(rel: string): Buffer;
  readText(rel: string): string;
  /** Where the file can be read on disk, for worker threads that read it themselves; never written to. */
  filePath(rel: string): string;
}

export interface OutputWriter {
  /** Adds a file to the stage's output tree. */
  writeFile(rel: string, data: string | Uint8Array): Hash;
  writeJson(rel: string, value: unknown): Hash;
  /** Adds an existing file (e.g. one a command wrote) to the output tree under `rel`. */
  addFile(rel: string, file: string): Promise<Hash>;
  /** Stores a blob that an output refers to by hash (an image named in a manifest) without listing it as a file. */
  putBlob(data: string | Uint8Array): Hash;
  /** Marks a blob already in the store (e.g. an input image kept as is) as referenced by this output. */
  reference(hash: Hash): void;
  /** As `reference`, for a blob that may be gone (a memo entry's, after gc): false, and nothing marked, when it is. */
  tryReference(hash: Hash): boolean;
  /**
   * For worker threads: they store blobs with `putBlob(sink, bytes)` from cache/blob-sink; declare each with
   * `reference`.
   */
  readonly blobSink: BlobSink;
  /** Numbers worth seeing in `status --json`, the lockfile's sibling records and the report. */
  setMetrics(metrics: Record<string, unknown>): void;
  /**
   * Numbers a pipeline's `checks:` can test (`maxNoFaceShare: 0.02`): each name must be among the stage type's
   * declared `measures`, each value a finite number. The engine writes them as measures.json (keys sorted) into
   * the output tree, so they are stored, pushed and pulled with the result; a later call replaces the earlier.
   */
  setMeasures(measures: Record<string, number>): void;
  /** Captured program output, kept in the stage record. */
  setLog(stdout: string, stderr: string): void;
}

export interface StageContext<P> {
  readonly stage: string;
  readonly params: P;
  readonly entry: StageEntry;
  /** The directory relative paths in the pipeline resolve against. */
  readonly pipelineDir: string;
  /**
   * Deletes one of the stage's declared outs before it is rewritten. The engine checks the path again first (it
   * must be inside the pipeline's folder and clear of the store, datasets and the pipeline file) and throws
   * rather than delete anything else.
   */
  removeOut(out: string): void;
  /** A 32-bit seed derived from the pipeline seed and this stage's name. */
  readonly seed: number;
  readonly signal: AbortSignal;
  /**
   * Set when this run is one shard of a distributed stage (see `shardable`): the stage does only the per-item
   * work of the items `inShard` (lib/shard.ts) selects, memoising each, and writes no outputs.
   */
  readonly shard?: Shard;
  /** A seeded PRNG in [0, 1); each call starts a fresh stream for `label`, so stages stay reproducible. */
  random(label?: string): () => number;
  input(name: string): InputView;
  readonly inputs: ReadonlyMap<string, InputView>;
  /** Hashes of the files `modelFiles` named (name → sha256), as hashed for the key: memo keys reuse them. */
  readonly modelHashes: Readonly<Record<string, Hash>>;
  readBlob(hash: Hash): Buffer;
  /** Whether the store still holds a blob (a memo entry may point at one that gc removed). */
  hasBlob(hash: Hash): boolean;
  /** Where a blob lies on disk, for worker threads that read it themselves; never written to. */
  blobPath(hash: Hash): string;
  readonly output: OutputWriter;
  /** Per-item memo shared across runs, pipelines and stages: key it by what determines the result. */
  memo(namespace: string): Memo;
  progress(done: number, total: number, note?: string): void;
  log(message: string): void;
}

/** Fields of a stage entry the engine itself reads; everything else of the entry is the stage's params. */
// `checks` test the stored result and never change it: a new threshold re-evaluates, it does not rerun.
export const ENGINE_FIELDS = ['type', 'description', 'tags', 'checks', 'input', 'inputs', 'models'] as const;

/**
 * What a stage's output is, so that the loader can refuse an input of the wrong kind before anything runs:
 * source (images with their labels, as a dataset of the pipeline: generate-faces), manifest (a dataset stage's
 * manifest.jsonl: merge, agr, …), model, evaluation, report, files (whatever a command writes).
 */
export type OutputKind = 'source' | 'manifest' | 'model' | 'evaluation' | 'report' | 'files';

/** A cross-field problem of a stage entry, at a path below the entry (`['params', 'split']`). */
export interface EntryProblem {
  path: (string | number)[];
  message: string;
}

export interface StageDefinition<P = Record<string, unknown>> {
  readonly type: string;
  /** Bumped whenever the stage's output for the same inputs and params changes: it is part of every key. */
  readonly version: string;
  /**
   * Schema file (under `schemas/stages/`, or absolute) validating the whole stage entry; its defaults are applied
   * before hashing.
   */
  readonly schema: string;
  /** What of the entry goes into the key as params (defaults: the entry without the engine's fields). */
  keyParams?(entry: StageEntry): Record<string, unknown>;
  /** The typed params handed to `run`. */
  params(entry: StageEntry): P;
  /** Workspace files the stage reads (hashed into its key) and writes (stored, restored when missing). */
  workspacePaths?(entry: StageEntry): { deps: string[]; outs: string[] };
  /** Model files the stage loads (name → absolute path): each file's hash is part of the key. */
  modelFiles?(entry: StageEntry): Record<string, string>;
  /** A reason when runs of this entry cannot be cached (e.g. a command with no declared outs). */
  uncacheableReason?(entry: StageEntry): string | undefined;
  /** What the output is, for other stages' `accepts` (default: files). */
  readonly produces?: OutputKind;
  /**
   * What each reference field takes: output kinds, or 'any'. A source dataset of the pipeline is a 'source'.
   * A field left out takes anything.
   */
  readonly accepts?: Partial<Record<'input' | 'inputs' | 'models', readonly (OutputKind | 'any')[]>>;
  /** Checks the schema cannot express (fractions adding up to 1, ordered thresholds), run by `validate`. */
  checkEntry?(entry: StageEntry): EntryProblem[];
  /**
   * The stage's per-item work can be split into shards run on several workers (`run --queue`): run with
   * `ctx.shard` set, it memoises its share of the items and returns; the whole run then finds every item
   * memoised. Its outputs must not depend on whether an item was memoised or computed.
   */
  shardable?(entry: StageEntry): boolean;
  /**
   * The measures the stage reports with `output.setMeasures` (lowerCamel name → one-line description): what a
   * pipeline's `checks:` on a stage of this type may test. A check of any other measure is refused at load.
   */
  readonly measures?: Readonly<Record<string, string>>;
  /**
   * The stage reads its upstream stages' check outcomes (`InputView.checks`, e.g. a report listing warnings):
   * their checks then enter its key, so a changed threshold reruns it. Other stages never see them.
   */
  readonly readsChecks?: boolean;
  run(ctx: StageContext<P>): Promise<void>;
}

/** `keyParams` of a stage whose `cacheMegabytes` and `runtime.threads` change only its speed. */
export function paramsWithoutSpeedSettings<P extends { cacheMegabytes?: number; runtime?: { threads?: number } }>(
  params: P,
): { params: Omit<P, 'cacheMegabytes'> } {
  const { cacheMegabytes: _speedOnly, ...rest } = params;
  if (!rest.runtime) return { params: rest };
  // Operator threads split work, not sums (test/onnx-runtime.test.ts): the same outputs on any count.
  const { threads: _threads, ...runtime } = rest.runtime;
  return { params: { ...rest, runtime } as Omit<P, 'cacheMegabytes'> };
}

/** The params of an entry type: its `params` field (a stage whose params are the whole entry says so in `params`). */
type ParamsField<E> = E extends { params?: infer P } ? NonNullable<P> : never;

/**
 * A stage as its module declares it to `defineStage`: `E` is its entry as its schema describes it after
 * validation (schemas/types/<type>.ts, derived from the JSON Schema), `P` what its hooks and `run` receive.
 */
export interface StageDeclaration<E extends { type: string }, P> {
  readonly type: E['type'];
  readonly version: string;
  readonly schema: string;
  readonly produces?: OutputKind;
  readonly accepts?: StageDefinition['accepts'];
  readonly measures?: StageDefinition['measures'];
  readonly readsChecks?: StageDefinition['readsChecks'];
  /** The params from the entry; default: its `params` field. */
  params?(entry: E): P;
  keyParams?(params: P, entry: E): Record<string, unknown>;
  workspacePaths?(params: P, entry: E): { deps: string[]; outs: string[] };
  modelFiles?(params: P, entry: E): Record<string, string>;
  uncacheableReason?(params: P, entry: E): string | undefined;
  checkEntry?(params: P, entry: E): EntryProblem[];
  shardable?(params: P, entry: E): boolean;
  run(ctx: StageContext<P> & { readonly entry: E }): Promise<void>;
}

/**
 * Declares a stage: every hook receives the params typed from the stage's schema. The engine calls a hook only
 * on an entry its schema validated (defaults filled in), which is what makes the one conversion below sound.
 */
export function defineStage<E extends { type: string }, P = ParamsField<E>>(
  d: StageDeclaration<E, P>,
): StageDefinition<P> {
  const typed = (entry: StageEntry) => entry as unknown as E;
  const params = (entry: StageEntry): P =>
    d.params ? d.params(typed(entry)) : (typed(entry) as unknown as { params: P }).params;
  const hook = <R>(f: ((params: P, entry: E) => R) | undefined) =>
    f && ((entry: StageEntry) => f(params(entry), typed(entry)));
  const definition: StageDefinition<P> = {
    type: d.type,
    version: d.version,
    schema: d.schema,
    params,
    run: (ctx) => d.run(ctx as StageContext<P> & { entry: E }),
  };
  const optional = {
    produces: d.produces,
    accepts: d.accepts,
    measures: d.measures,
    readsChecks: d.readsChecks,
    shardable: hook(d.shardable),
    keyParams: hook(d.keyParams),
    workspacePaths: hook(d.workspacePaths),
    modelFiles: hook(d.modelFiles),
    uncacheableReason: hook(d.uncacheableReason),
    checkEntry: hook(d.checkEntry),
  };
  // Only the hooks declared: the engine treats a missing one as its default.
  return Object.assign(definition, Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)));
}

/** The stage types a pipeline may use. The CLI hands the engine the built-in ones (stages/registry.ts). */
export interface StageRegistry {
  definition(type: string): StageDefinition<unknown> | undefined;
  /** Every type, sorted. */
  types(): string[];
}

/** A definition of any params type: a registry holds stages whose params differ (each checks its own). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStageDefinition = StageDefinition<any>;

export function stageRegistry(definitions: readonly AnyStageDefinition[]): StageRegistry {
  const byType = new Map<string, StageDefinition<unknown>>();
  for (const d of definitions) {
    if (byType.has(d.type)) throw new Error(`two stage definitions have type "${d.type}"`);
    byType.set(d.type, d);
  }
  const types = [...byType.keys()].sort();
  return { definition: (type) => byType.get(type), types: () => [...types] };
}
