import * as path from 'node:path';
import type { Hash } from '../cache/hash.js';
import type { Shard } from '../lib/shard.js';
import { CorruptBlobError, type StageRecord, type Store } from '../cache/store.js';
import { treeHash } from '../cache/tree.js';
import { StageFailedError, type InputView } from './stage.js';
import { createStageContext, datasetInputView, stageInputView } from './context.js';
import type { EngineEvent, EventSink, StageFailure } from './events.js';
import { describeError } from './debug.js';
import { InputHasher } from './input-hasher.js';
import { emptyLockfile, lockedMaterial, lockedStage, readLockfile, writeLockfile, type Lockfile } from './lockfile.js';
import { gatherMaterial, MissingDepError } from './material.js';
import { diffMaterial } from './material-diff.js';
import { downstreamOf, upstreamOf, type Pipeline, type StageSpec } from './spec/pipeline.js';
import { toPosix } from './paths.js';
import { guardedPaths, restoreOuts } from './restore-outs.js';
import { stageKey, type KeyMaterial } from './stage-key.js';
import { describeCheck, failedChecks, outcomesFor, type CheckOutcome } from './checks.js';

export interface RunOptions {
  /** Run only these stages and what they need; all stages when empty. */
  targets?: string[];
  /** Re-run these stages even when their cached result is valid. */
  force?: string[];
  jobs: number;
  signal?: AbortSignal;
  emit: EventSink;
  /**
   * Asked for a stage whose result the store lacks, before it is computed: brings the result into the store
   * (from a remote: `run --pull`) and says from where, or undefined when it has none.
   */
  fetchResult?: (stage: string, key: Hash) => Promise<string | undefined>;
  /**
   * Runs a stale stage somewhere else (a worker, `run --queue`) instead of here: resolves to its record once
   * the record and its closure are in this store. `upstream` names the results the stage reads.
   */
  executeElsewhere?: (job: {
    stage: StageSpec;
    key: Hash;
    upstream: { stage: string; key: Hash }[];
  }) => Promise<StageRecord>;
  /** Run only this shard of this stage's per-item work (a worker's shard job): it memoises and records nothing. */
  shard?: Shard & { stage: string };
  /** Stages whose checks are not evaluated here: a worker's job, whose coordinator gates the stage it asked for. */
  ungated?: readonly string[];
}

export interface RunSummary {
  ok: boolean;
  /** The memo pack of each stage run as a shard (undefined: the shard found nothing to do). */
  shards: Record<string, Hash | undefined>;
  executed: string[];
  fresh: string[];
  failed: string[];
  skipped: string[];
  lock: Lockfile;
}

interface Completed {
  key: Hash;
  material: KeyMaterial;
  record: StageRecord;
  /** The outcomes of the stage's checks on this record; absent when it has none. */
  checks?: CheckOutcome[];
}

const LOG_TAIL_CHARS = 4000;

/**
 * Runs a validated pipeline against a store whose lock the caller holds. Stages run in topological order,
 * up to `jobs` at once; a stage whose key has a complete record is not run again. A failed stage stops its
 * descendants while independent branches finish. The lockfile is rewritten at the end, also after failures.
 */
export async function runPipeline(pipeline: Pipeline, store: Store, options: RunOptions): Promise<RunSummary> {
  const started = Date.now();
  const emit = options.emit;
  const selected = options.targets?.length ? upstreamOf(pipeline, options.targets) : new Set(pipeline.order);
  const order = pipeline.order.filter((n) => selected.has(n));
  const forced = new Set(options.force ?? []);
  const previous = readLockfile(pipeline.lockFile) ?? emptyLockfile(pipeline.name, pipeline.seed);
  const hasher = new InputHasher(store, pipeline.dir);
  const signal = options.signal ?? new AbortController().signal;
  store.removeStrayTemps(); // what a killed writer left in tmp/: we hold the lock, so no write is in progress

  const completed = new Map<string, Completed>();
  const executed: string[] = [];
  const fresh: string[] = [];
  const failed: string[] = [];
  const skipped = new Set<string>();
  const shards: Record<string, Hash | undefined> = {};
  const pending = new Set(order);
  const running = new Map<string, Promise<void>>();

  emit({ type: 'run-start', pipeline: pipeline.file, stages: order, jobs: options.jobs });

  const settle = async (stage: StageSpec): Promise<void> => {
    const result = await evaluate(pipeline, store, stage, {
      completed,
      hasher,
      previous,
      forced: forced.has(stage.name),
      signal,
      emit,
      fetchResult: options.fetchResult,
      executeElsewhere: options.executeElsewhere,
      shard: options.shard?.stage === stage.name ? options.shard : undefined,
    });
    if (result.outcome === 'sharded') {
      shards[stage.name] = result.memoPack;
      return;
    }
    const stopBelow = () => {
      for (const below of downstreamOf(pipeline, [stage.name])) {
        if (below !== stage.name && pending.delete(below)) {
          skipped.add(below);
          emit({ type: 'stage-skipped', stage: below, reason: 'upstream-failed', upstream: stage.name });
        }
      }
    };
    if (result.outcome === 'failed') {
      failed.push(stage.name);
      emit({ type: 'stage-failed', stage: stage.name, reason: result.reason, message: result.message });
      stopBelow();
      return;
    }
    // Run here, found in the store, pulled or run by a worker: every result passes its checks on the way in.
    const { record } = result.completed;
    const checks = options.ungated?.includes(stage.name)
      ? []
      : outcomesFor(stage.entry, record.outputs, (hash) => store.readBlob(hash));
    const done = checks.length ? { ...result.completed, checks } : result.completed;
    completed.set(stage.name, done); // also when a gate fails: the result is valid, and the lockfile records it
    const { errors, warnings } = failedChecks(done.checks ?? []);
    for (const check of warnings) {
      emit({ type: 'stage-check-warning', stage: stage.name, message: describeCheck(check), check });
    }
    if (errors.length) {
      failed.push(stage.name);
      const message = errors.map(describeCheck).join('\n');
      emit({ type: 'stage-failed', stage: stage.name, reason: 'check-failed', message, checks: done.checks });
      stopBelow();
      return;
    }
    (result.outcome === 'executed' ? executed : fresh).push(stage.name);
  };

  while (pending.size || running.size) {
    for (const name of [...pending]) {
      if (running.size >= options.jobs || signal.aborted) break;
      const stage = pipeline.stages.get(name)!;
      if (!stage.upstreamStages.every((u) => completed.has(u) || !selected.has(u))) continue;
      pending.delete(name);
      running.set(
        name,
        settle(stage).finally(() => running.delete(name)),
      );
    }
    if (signal.aborted && running.size === 0) {
      for (const name of pending) skipped.add(name);
      pending.clear();
      break;
    }
    if (running.size) await Promise.race(running.values());
  }

  const lock = updatedLockfile(pipeline, previous, completed, hasher);
  store.close();
  writeLockfile(pipeline.lockFile, lock, store.root);
  const summary = { executed, fresh, failed, skipped: [...skipped] };
  emit({ type: 'run-done', ...summary, durationMs: Date.now() - started, lockFile: pipeline.lockFile });
  return { ok: failed.length === 0 && skipped.size === 0, ...summary, shards, lock };
}

interface EvaluateParts {
  completed: Map<string, Completed>;
  hasher: InputHasher;
  previous: Lockfile;
  forced: boolean;
  signal: AbortSignal;
  emit: (event: EngineEvent) => void;
  fetchResult?: RunOptions['fetchResult'];
  executeElsewhere?: RunOptions['executeElsewhere'];
  shard?: Shard;
}

type Evaluation =
  | { outcome: 'fresh' | 'executed'; completed: Completed }
  | { outcome: 'sharded'; memoPack: Hash | undefined }
  | { outcome: 'failed'; reason: StageFailure; message: string };

async function evaluate(pipeline: Pipeline, store: Store, stage: StageSpec, parts: EvaluateParts): Promise<Evaluation> {
  const { emit } = parts;
  let material: KeyMaterial;
  try {
    const upstream = new Map(
      [...parts.completed].map(([n, c]) => [n, { treeHash: c.record.treeHash, outputs: c.record.outputs }]),
    );
    material = await gatherMaterial(pipeline, stage, upstream, parts.hasher);
  } catch (error) {
    const reason: StageFailure = error instanceof MissingDepError ? 'missing-out' : 'stage-error';
    return { outcome: 'failed', reason, message: (error as Error).message };
  }
  const key = stageKey(material);
  const uncacheable = stage.definition.uncacheableReason?.(stage.entry);

  // Why a record under this key cannot be reused (damaged, incomplete, a corrupt blob): said, then recomputed.
  let unusable: string | undefined;
  if (!uncacheable && !parts.forced) {
    let found = store.findResult(key);
    let pulled: string | undefined;
    if (found.state !== 'complete' && parts.fetchResult) {
      pulled = await fetchQuietly(parts.fetchResult, stage.name, key, emit);
      if (pulled) found = store.findResult(key);
    }
    if (found.state === 'complete') {
      try {
        const restored = stage.outs.length
          ? await restoreOuts(pipeline, store, parts.hasher, stage, found.record.outputs)
          : [];
        // A record from before checksums was just found whole: it is sealed now, under the lock.
        const record = found.verified ? found.record : await store.putRecord(found.record);
        emit({ type: 'stage-fresh', stage: stage.name, key, restored, ...(pulled ? { pulled } : {}) });
        return { outcome: 'fresh', completed: { key, material, record } };
      } catch (error) {
        // An unsafe out (see workspace-paths.ts) fails the stage; a corrupt blob is recomputed.
        if (!(error instanceof CorruptBlobError)) {
          return { outcome: 'failed', reason: 'stage-error', message: describeError(error) };
        }
        unusable = `its cached ${error.message.replace(/^blob/, 'output')}`;
      }
    } else if (found.state !== 'absent') {
      unusable = found.reason;
    }
  }

  const before = lockedMaterial(parts.previous, stage.name);
  const reason = parts.forced
    ? 'forced'
    : uncacheable
      ? `it ${uncacheable}`
      : unusable
        ? unusable
        : !before
          ? 'never run'
          : diffMaterial(before, material).join('; ') || 'its cached result is missing from the store';
  emit({ type: 'stage-start', stage: stage.name, key, reason });
  if (parts.executeElsewhere && !parts.shard) {
    const upstream = stage.upstreamStages.map((name) => ({ stage: name, key: parts.completed.get(name)!.key }));
    try {
      const record = await parts.executeElsewhere({ stage, key, upstream });
      // Its outs are put in this workspace, as a run here would have left them.
      if (stage.outs.length) await restoreOuts(pipeline, store, parts.hasher, stage, record.outputs);
      return executedWith(emit, stage.name, { key, material, record });
    } catch (error) {
      const reason: StageFailure = parts.signal.aborted ? 'cancelled' : 'stage-error';
      return { outcome: 'failed', reason, message: describeError(error) };
    }
  }

  const inputs = new Map<string, InputView>();
  for (const name of stage.upstreamStages) {
    const { record, checks } = parts.completed.get(name)!;
    // Only a stage whose key holds its upstream's checks (readsChecks) may see their outcomes.
    const seen = stage.definition.readsChecks ? (checks ?? []) : undefined;
    inputs.set(name, stageInputView(store, name, record.outputs, record.treeHash, seen));
  }
  for (const name of stage.datasets) {
    const spec = pipeline.datasets.get(name)!;
    const hashed = await parts.hasher.dataset(spec);
    inputs.set(name, datasetInputView(name, spec.path, spec.options, hashed.files, hashed.hash, hashed.unreadable));
  }

  const { context, output } = createStageContext({
    stage,
    pipelineDir: pipeline.dir,
    pipelineSeed: pipeline.seed,
    store,
    inputs,
    modelHashes: material.models,
    signal: parts.signal,
    emit,
    guarded: guardedPaths(pipeline),
    shard: parts.shard,
  });
  const started = Date.now();
  try {
    await stage.definition.run(context);
  } catch (error) {
    if (output.log) writeLogs(store, output.log); // kept for `cache gc` to collect; the message has the tail
    const message = error instanceof Error ? error.message : String(error);
    const reason: StageFailure = parts.signal.aborted
      ? 'cancelled'
      : error instanceof StageFailedError
        ? error.reason
        : 'stage-error';
    return { outcome: 'failed', reason, message: error instanceof StageFailedError ? message : describeError(error) };
  }

  if (parts.shard) {
    const pack = output.memoUse.pack();
    return { outcome: 'sharded', memoPack: pack === undefined ? undefined : store.putBytes(pack) };
  }
  const record: StageRecord = {
    recordVersion: 2,
    key,
    stage: stage.name,
    type: stage.type,
    version: stage.definition.version,
    material: material as unknown as Record<string, unknown>,
    outputs: output.files,
    treeHash: treeHash(output.files),
    runtime: { node: process.version, platform: `${process.platform}-${process.arch}` },
    durationMs: Date.now() - started,
    finishedAt: new Date().toISOString(),
  };
  if (output.refs.size) record.refs = store.putBytes([...output.refs].sort().join('\n') + '\n');
  const memoPack = output.memoUse.pack();
  if (memoPack) record.memo = store.putBytes(memoPack);
  if (output.metrics) record.metrics = output.metrics;
  if (output.log) record.log = writeLogs(store, output.log);
  for (const message of store.takeMemoRejections()) emit({ type: 'stage-log', stage: stage.name, message });
  // Written last, after its blobs are on the disk: until this rename happens the stage counts as never run.
  await store.putRecord(record);
  return executedWith(emit, stage.name, { key, material, record });
}

function executedWith(emit: EventSink, stage: string, completed: Completed): Evaluation {
  const { key, record } = completed;
  const files = Object.keys(record.outputs).length;
  emit({ type: 'stage-done', stage, key, durationMs: record.durationMs, files });
  return { outcome: 'executed', completed };
}

/** A remote that fails is said once per stage and the stage is computed here: a run never stops for a cache. */
async function fetchQuietly(
  fetchResult: NonNullable<RunOptions['fetchResult']>,
  stage: string,
  key: Hash,
  emit: EventSink,
): Promise<string | undefined> {
  try {
    return await fetchResult(stage, key);
  } catch (error) {
    emit({ type: 'stage-log', stage, message: `not pulled, computed here: ${(error as Error).message}` });
    return undefined;
  }
}

function writeLogs(store: Store, log: { stdout: string; stderr: string }): StageRecord['log'] {
  const kept: NonNullable<StageRecord['log']> = {};
  if (log.stdout) kept.stdout = store.putBytes(log.stdout);
  if (log.stderr) kept.stderr = store.putBytes(log.stderr);
  const tail = (log.stderr || log.stdout).slice(-LOG_TAIL_CHARS);
  if (tail) kept.tail = tail;
  return kept;
}

function updatedLockfile(
  pipeline: Pipeline,
  previous: Lockfile,
  completed: Map<string, Completed>,
  hasher: InputHasher,
): Lockfile {
  const lock = emptyLockfile(pipeline.name, pipeline.seed);
  for (const [name, entry] of Object.entries(previous.stages)) if (pipeline.stages.has(name)) lock.stages[name] = entry;
  for (const [name, done] of completed)
    lock.stages[name] = lockedStage(done.key, done.material, done.record.outputs, done.record.treeHash, done.checks);
  for (const [name, entry] of Object.entries(previous.datasets))
    if (pipeline.datasets.has(name)) lock.datasets[name] = entry;
  for (const [name, spec] of pipeline.datasets) {
    const hashed = hasher.hashedDataset(name);
    if (hashed) {
      lock.datasets[name] = {
        format: spec.format,
        path: toPosix(path.relative(pipeline.dir, spec.path)) || '.',
        tree: hashed.hash,
        files: hashed.count,
      };
    }
  }
  return lock;
}
