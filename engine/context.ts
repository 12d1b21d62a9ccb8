import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BlobSink } from '../cache/blob-sink.js';
import type { Hash } from '../cache/hash.js';
import { sha256File, stableJson } from '../cache/hash.js';
import type { Store } from '../cache/store.js';
import { MemoUse } from '../cache/memo-pack.js';
import type { Tree, UnreadableEntry } from '../cache/tree.js';
import type { CheckOutcome, InputView, OutputWriter, StageContext } from './stage.js';
import { MEASURES_FILE, measuresProblem } from './checks.js';
import type { EventSink } from './events.js';
import { deriveSeed, seededRandom } from '../lib/random.js';
import type { Shard } from '../lib/shard.js';
import type { StageSpec } from './spec/pipeline.js';
import { removeWorkspaceOut, type ProtectedPath } from './workspace-paths.js';

/** Collects a stage's output tree while it runs; nothing becomes visible until the record is written. */
export class OutputCollector implements OutputWriter {
  readonly files: Tree = {};
  readonly refs = new Set<Hash>();
  metrics: Record<string, unknown> | undefined;
  log: { stdout: string; stderr: string } | undefined;
  /** The memo entries the stage used: its record names them in a pack (see memo-pack.ts). */
  readonly memoUse: MemoUse;

  /** `declaredMeasures`: the measures the stage type declares, the only ones setMeasures takes. */
  constructor(
    private readonly store: Store,
    private readonly declaredMeasures: readonly string[] = [],
  ) {
    this.memoUse = new MemoUse((namespace) => store.memo(namespace));
  }

  writeFile(rel: string, data: string | Uint8Array): Hash {
    const hash = this.store.putBytes(data);
    this.files[checkRel(rel)] = { hash, size: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength };
    return hash;
  }

  writeJson(rel: string, value: unknown): Hash {
    return this.writeFile(rel, `${JSON.stringify(value, null, 2)}\n`);
  }

  async addFile(rel: string, file: string): Promise<Hash> {
    const hash = await this.store.putFile(file, await sha256File(file));
    this.files[checkRel(rel)] = { hash, size: fs.statSync(file).size };
    return hash;
  }

  putBlob(data: string | Uint8Array): Hash {
    const hash = this.store.putBytes(data);
    this.refs.add(hash);
    return hash;
  }

  get blobSink(): BlobSink {
    return this.store.blobSink;
  }

  reference(hash: Hash): void {
    if (!this.tryReference(hash)) throw new Error(`reference to blob ${hash} that is not in the store`);
  }

  tryReference(hash: Hash): boolean {
    if (!this.store.hasBlob(hash)) return false;
    this.refs.add(hash);
    return true;
  }

  setMetrics(metrics: Record<string, unknown>): void {
    this.metrics = metrics;
  }

  setMeasures(measures: Record<string, number>): void {
    const problem = measuresProblem(measures, this.declaredMeasures);
    if (problem) throw new Error(`setMeasures: ${problem}`);
    // Sorted keys and a fixed layout: the same numbers give the same blob, so the output tree hash is stable.
    this.writeFile(MEASURES_FILE, stableJson(measures));
  }

  setLog(stdout: string, stderr: string): void {
    this.log = { stdout, stderr };
  }
}

function checkRel(rel: string): string {
  const normal = path.posix.normalize(rel);
  if (path.posix.isAbsolute(normal) || normal.startsWith('../') || normal === '..' || normal === '.') {
    throw new Error(`output path "${rel}" must be relative and inside the stage's output`);
  }
  return normal;
}

/** `checks`: the upstream stage's check outcomes, given only to a reader whose type declares `readsChecks`. */
export function stageInputView(
  store: Store,
  name: string,
  files: Tree,
  treeHash: Hash,
  checks?: readonly CheckOutcome[],
): InputView {
  return {
    name,
    kind: 'stage',
    files,
    treeHash,
    ...(checks ? { checks } : {}),
    readFile: (rel) => {
      const entry = files[rel];
      if (!entry) throw new Error(`stage "${name}" has no output file "${rel}"`);
      return store.readBlob(entry.hash);
    },
    readText: (rel) => store.readBlob(mustHave(files, name, rel)).toString('utf8'),
    filePath: (rel) => store.blobPath(mustHave(files, name, rel)),
  };
}

export function datasetInputView(
  name: string,
  location: string,
  options: Record<string, unknown>,
  files: Tree,
  treeHash: Hash,
  unreadable: readonly UnreadableEntry[] = [],
): InputView {
  const isFile = fs.statSync(location).isFile();
  const resolve = (rel: string) => (isFile ? location : path.join(location, rel));
  return {
    name,
    kind: 'dataset',
    files,
    treeHash,
    path: location,
    options,
    unreadable,
    readFile: (rel) => fs.readFileSync(resolve(rel)),
    readText: (rel) => fs.readFileSync(resolve(rel), 'utf8'),
    filePath: resolve,
  };
}

function mustHave(files: Tree, name: string, rel: string): Hash {
  const entry = files[rel];
  if (!entry) throw new Error(`stage "${name}" has no output file "${rel}"`);
  return entry.hash;
}

export interface ContextParts {
  stage: StageSpec;
  pipelineDir: string;
  /** What no out may be, hold or lie inside (see workspace-paths.ts). */
  guarded?: readonly ProtectedPath[];
  pipelineSeed: number;
  store: Store;
  inputs: Map<string, InputView>;
  /** The model files' hashes the stage key was computed from (name → sha256). */
  modelHashes: Readonly<Record<string, Hash>>;
  signal: AbortSignal;
  emit: EventSink;
  shard?: Shard;
}

export function createStageContext(parts: ContextParts): { context: StageContext<unknown>; output: OutputCollector } {
  const { stage, store, emit } = parts;
  const output = new OutputCollector(store, Object.keys(stage.definition.measures ?? {}));
  let lastProgress = 0;
  const context: StageContext<unknown> = {
    stage: stage.name,
    params: stage.definition.params(stage.entry),
    entry: stage.entry,
    pipelineDir: parts.pipelineDir,
    removeOut: (out) => removeWorkspaceOut(parts.pipelineDir, out, parts.guarded),
    seed: deriveSeed(parts.pipelineSeed, stage.name),
    signal: parts.signal,
    ...(parts.shard ? { shard: parts.shard } : {}),
    random: (label = '') => seededRandom(parts.pipelineSeed, stage.name, label),
    inputs: parts.inputs,
    modelHashes: parts.modelHashes,
    input: (name) => {
      const view = parts.inputs.get(name);
      if (!view) throw new Error(`stage "${stage.name}" reads "${name}", which is not among its inputs`);
      return view;
    },
    readBlob: (hash) => store.readBlob(hash),
    hasBlob: (hash) => store.hasBlob(hash),
    blobPath: (hash) => store.blobPath(hash),
    output,
    memo: (namespace) => output.memoUse.view(namespace),
    progress: (done, total, note) => {
      // Progress events are for people: at most a few a second, plus the final one.
      const now = Date.now();
      if (done < total && now - lastProgress < 200) return;
      lastProgress = now;
      emit({ type: 'stage-progress', stage: stage.name, done, total, ...(note ? { note } : {}) });
    },
    log: (message) => emit({ type: 'stage-log', stage: stage.name, message }),
  };
  return { context, output };
}
