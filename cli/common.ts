import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, type StageRecord } from '../cache/store.js';
import { OrphanGroupsError, StoreLock, StoreLockedError } from '../cache/lock.js';
import { formatDiagnostic, formatDiagnostics } from '../engine/spec/diagnostics.js';
import { loadPipeline } from '../engine/spec/load.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import { builtInRegistry } from '../stages/registry.js';

export const EXIT_OK = 0;
export const EXIT_STAGE_FAILED = 1;
export const EXIT_USAGE = 2;

/** Ends the command with an exit code and a message, without a stack trace: an expected failure. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
  }
}

export const DEFAULT_PIPELINE = 'pipelines/demo.yaml';

/** Loads and validates a pipeline, printing warnings; an invalid one ends the command with exit code 2. */
export function loadOrExit(file: string | undefined): Pipeline {
  const target = file ?? DEFAULT_PIPELINE;
  if (!file && !fs.existsSync(target)) {
    throw new CliExit(
      EXIT_USAGE,
      `no pipeline given and ${DEFAULT_PIPELINE} does not exist here; pass the pipeline file, e.g. fer-dag run pipelines/paper.yaml`,
    );
  }
  const result = loadPipeline(target, builtInRegistry);
  if (!result.ok) throw new CliExit(EXIT_USAGE, formatDiagnostics(result.diagnostics));
  for (const warning of result.warnings) process.stderr.write(`${formatDiagnostic(warning)}\n`);
  return result.value;
}

export function checkStageNames(pipeline: Pipeline, names: string[], flag: string): void {
  for (const name of names) {
    if (!pipeline.stages.has(name)) {
      throw new CliExit(
        EXIT_USAGE,
        `${flag} ${name}: no such stage in ${path.relative(process.cwd(), pipeline.file)} (stages: ${pipeline.order.join(', ')})`,
      );
    }
  }
}

/** Runs `work` holding the store's lock; `waitSeconds` > 0 queues behind another holder instead of failing. */
export async function withLockedStore<T>(
  pipeline: Pipeline,
  command: string,
  waitSeconds: number,
  work: (store: Store) => Promise<T>,
  onWait?: (pid: number, holderCommand: string) => void,
  signal?: AbortSignal,
): Promise<T> {
  const store = new Store(pipeline.storeDir);
  const lock = new StoreLock(path.join(pipeline.storeDir, 'lock'), command);
  try {
    await lock.acquire(waitSeconds * 1000, (holder) => onWait?.(holder.pid, holder.command), signal);
  } catch (error) {
    if (error instanceof StoreLockedError || error instanceof OrphanGroupsError)
      throw new CliExit(EXIT_STAGE_FAILED, `fer-dag: ${error.message}`);
    throw error;
  }
  const release = () => lock.release();
  process.once('exit', release);
  try {
    return await work(store);
  } finally {
    store.close();
    lock.release();
    process.removeListener('exit', release);
  }
}

export function parseJobs(value: string): number {
  const jobs = Number(value);
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new CliExit(EXIT_USAGE, `--jobs must be a whole number >= 1, got "${value}"`);
  return jobs;
}

/** The stored record of `stage` when it is fresh; otherwise exits naming what to run first. */
export async function freshRecord(pipeline: Pipeline, store: Store, stage: string): Promise<StageRecord> {
  const { pipelineStatus } = await import('../engine/status.js');
  const status = (await pipelineStatus(pipeline, store, [stage])).find((s) => s.stage === stage)!;
  if (status.state !== 'fresh') {
    const why = status.reasons.length ? ` (${status.reasons.join('; ')})` : '';
    throw new CliExit(
      EXIT_STAGE_FAILED,
      `stage ${stage} is ${status.state.replace('-', ' ')}${why}; run \`fer-dag run ${path.relative(process.cwd(), pipeline.file)} --stage ${stage}\` first`,
    );
  }
  return store.getRecord(status.key)!;
}
