import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker, type Job } from 'bullmq';
import { stableJson } from '../cache/hash.js';
import { mapBounded } from '../lib/parallel/map-bounded.js';
import { Store } from '../cache/store.js';
import type { EngineEvent } from '../engine/events.js';
import { runPipeline } from '../engine/scheduler.js';
import { formatDiagnostics } from '../engine/spec/diagnostics.js';
import { loadPipeline } from '../engine/spec/load.js';
import type { StageRegistry } from '../engine/stage.js';
import { putMissingBlob, recordPath, type RemoteBackend } from '../remote/backend.js';
import { localPackBlobs, pushResults, ResultPuller } from '../remote/transfer.js';
import {
  connect,
  queuesForWorker,
  reachable,
  shardRecordKey,
  type JobData,
  type ShardRecord,
  type StageJob,
} from './jobs.js';
import { materializeWorkspace } from './workspace.js';

export interface WorkerOptions {
  queue: string;
  remote: RemoteBackend;
  registry: StageRegistry;
  /** Where the worker keeps workspaces and its stores. */
  dir: string;
  concurrency: number;
  tags: string[];
  /** How long a job's lock lasts without renewal: after a kill, the job goes to another worker this much later. */
  lockSeconds: number;
  /** One NDJSON line per job started and finished, for people and tests. */
  log: (event: Record<string, unknown>) => void;
}

/**
 * `fer-dag worker`: takes stage and shard jobs from BullMQ queues and runs them with the same engine and stage
 * code as a local run. Inputs come from the remote (the workspace, upstream results), outputs go back to it
 * (blobs, then records); the coordinator reads them from there. Each slot of `concurrency` has its own store
 * and copy of the workspace, so concurrent jobs never share a lock or an out.
 */
export async function startWorker(options: WorkerOptions): Promise<{ close(): Promise<void> }> {
  const slots = Array.from({ length: options.concurrency }, (_, i) => ({ index: i, busy: false }));
  const connection = connect(options.queue);
  await reachable(connection, options.queue);
  const handle = async (job: Job<JobData>) => {
    // Workers of several queues share the slots: a job that finds none free waits for one (its lock is renewed).
    let slot = slots.find((s) => !s.busy);
    while (!slot) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      slot = slots.find((s) => !s.busy);
    }
    slot.busy = true;
    const started = Date.now();
    options.log({ type: 'job-start', id: job.id, ...describe(job.data), slot: slot.index });
    try {
      const result = await runJob(job, path.join(options.dir, `slot-${slot.index}`), options);
      options.log({ type: 'job-done', id: job.id, ...describe(job.data), ms: Date.now() - started, ...result });
      return result;
    } catch (error) {
      options.log({ type: 'job-failed', id: job.id, ...describe(job.data), message: (error as Error).message });
      throw error;
    } finally {
      slot.busy = false;
    }
  };
  // One BullMQ worker per queue this worker's tags admit, sharing the slots: at most `concurrency` jobs at once.
  const workers = queuesForWorker(options.tags).map(
    (name) =>
      new Worker<JobData>(name, handle, {
        connection,
        concurrency: options.concurrency,
        lockDuration: options.lockSeconds * 1000,
        stalledInterval: Math.max(1000, (options.lockSeconds * 1000) / 2),
        maxStalledCount: 2,
      }),
  );
  for (const worker of workers)
    worker.on('error', (error) => options.log({ type: 'queue-error', message: error.message }));
  options.log({ type: 'worker-ready', queues: workers.map((w) => w.name), concurrency: options.concurrency });
  return {
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
      connection.disconnect();
    },
  };
}

function describe(job: JobData): Record<string, unknown> {
  return job.kind === 'stage'
    ? { kind: 'stage', stage: job.stage }
    : { kind: 'shard', stage: job.stage, shard: `${job.index + 1}/${job.count}` };
}

async function runJob(job: Job<JobData>, slotDir: string, options: WorkerOptions): Promise<Record<string, unknown>> {
  const data = job.data;
  const { remote } = options;
  const jobs = 8;
  if (data.kind === 'shard' && (await remote.has(recordPath(shardRecordKey(data.key, data.index, data.count))))) {
    return { already: true };
  }
  const file = await materializeWorkspace(remote, data.workspace, path.join(options.dir, 'workspaces'), slotDir, jobs);
  const loaded = loadPipeline(file, options.registry);
  if (!loaded.ok)
    throw new Error(`the coordinator's pipeline does not load here: ${formatDiagnostics(loaded.diagnostics)}`);
  const storeDir = path.join(slotDir, 'store');
  fs.mkdirSync(storeDir, { recursive: true });
  const pipeline = { ...loaded.value, storeDir };
  const store = new Store(storeDir);
  const puller = new ResultPuller(store, remote, { jobs });
  if (data.kind === 'stage' && data.shards) await importShards(puller, remote, data);

  const failures: string[] = [];
  const emit = (event: EngineEvent) => {
    if (event.type === 'stage-failed') failures.push(`${event.stage}: ${event.message}`);
    if (event.type === 'stage-progress' && event.stage === data.stage) {
      void job.updateProgress({ done: event.done, total: event.total, ...(event.note ? { note: event.note } : {}) });
    }
  };
  const summary = await runPipeline(pipeline, store, {
    targets: [data.stage],
    // The coordinator evaluates the checks of the stage it asked for: a gate never keeps a result from it.
    ungated: [data.stage],
    jobs: 1,
    emit,
    fetchResult: async (stage, key) => ((await puller.pull({ stage, key })) === 'pulled' ? remote.label : undefined),
    ...(data.kind === 'shard' ? { shard: { stage: data.stage, index: data.index, count: data.count } } : {}),
  });
  if (!summary.ok) throw new Error(failures.join('\n') || `stage ${data.stage} did not finish`);

  if (data.kind === 'shard') {
    const pack = summary.shards[data.stage];
    const record: ShardRecord = { stage: data.stage, key: data.key, index: data.index, count: data.count };
    if (pack) {
      const blobs = [pack, ...localPackBlobs(store, pack)];
      await mapBounded(blobs, jobs, (hash) => putMissingBlob(remote, hash, () => store.readBlob(hash)));
      record.memo = pack;
    }
    await remote.putNew(recordPath(shardRecordKey(data.key, data.index, data.count)), Buffer.from(stableJson(record)));
    store.close();
    return { memo: pack ?? null };
  }
  const made = summary.lock.stages[data.stage]?.key;
  if (made !== data.key) {
    throw new Error(
      `stage ${data.stage} has key ${made?.slice(0, 12)}… here but ${data.key.slice(0, 12)}… on the coordinator: ` +
        "this worker's fer-dag version or models differ from the coordinator's",
    );
  }
  const pushed = await pushResults(store, remote, [{ stage: data.stage, key: data.key }], { jobs });
  store.close();
  if (pushed.notLocal.length) throw new Error(`stage ${data.stage}: ${pushed.notLocal[0]!.reason}`);
  return { executed: summary.executed.includes(data.stage) };
}

/** A stage whose shards ran: the memo entries each shard recorded join this slot's memo before the stage runs. */
async function importShards(puller: ResultPuller, remote: RemoteBackend, job: StageJob): Promise<void> {
  for (let index = 0; index < job.shards; index++) {
    const text = await remote.get(recordPath(shardRecordKey(job.key, index, job.shards)));
    if (!text) continue; // not done: the stage computes those items itself
    const record = JSON.parse(text.toString('utf8')) as ShardRecord;
    if (record.memo) await puller.importMemoPack({ stage: job.stage, key: job.key }, record.memo);
  }
}
