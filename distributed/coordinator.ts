import { FlowProducer, Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Hash } from '../cache/hash.js';
import type { StageRecord, Store } from '../cache/store.js';
import type { EventSink } from '../engine/events.js';
import type { RunOptions } from '../engine/scheduler.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import type { RemoteBackend } from '../remote/backend.js';
import { pushResults, ResultPuller } from '../remote/transfer.js';
import {
  connect,
  keepingErrors,
  reachable,
  jobId,
  QueueError,
  queueFor,
  type JobData,
  type JobProgress,
  type ShardJob,
  type StageJob,
} from './jobs.js';
import { publishWorkspace } from './workspace.js';

export interface CoordinatorOptions {
  queue: string;
  remote: RemoteBackend;
  /** Shard jobs for a shardable stage (agr's predictions and the like); default: one per connected worker. */
  shards?: number;
  jobs: number;
  emit: EventSink;
  /** The tags a stage's job needs (a training that wants a GPU): it goes only to workers that have them. */
  tagsOf: (stage: string) => string[];
}

/** How long the coordinator waits for Redis to come back before it gives up on the run. */
const REDIS_GRACE_MS = 30_000;

/**
 * `run --queue`: the scheduler's `executeElsewhere`. Each stale stage becomes a BullMQ job (a flow whose
 * children are its shards, when the stage is shardable); the coordinator puts the workspace and the upstream
 * results on the remote first, waits for the job, then pulls the stage's result, verified, into its own store.
 * It writes the records and the lockfile as a local run does, so the two runs' lockfiles are the same.
 */
export class QueueCoordinator {
  private readonly connection: Redis;
  private readonly queues = new Map<string, Queue<JobData>>();
  private readonly events = new Map<string, QueueEvents>();
  private readonly flows: FlowProducer;
  private workspace: Promise<Hash> | undefined;
  private readonly puller: ResultPuller;
  private readonly waiting = new Map<string, string>(); // job id → stage, for progress
  /** How to fail each job still awaited, when the queue is lost. */
  private lost: ((error: Error) => void)[] = [];
  private lostTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly duplicates: Redis[] = [];

  constructor(
    private readonly pipeline: Pipeline,
    private readonly store: Store,
    private readonly options: CoordinatorOptions,
  ) {
    this.connection = connect(options.queue);
    this.flows = new FlowProducer({ connection: this.connection });
    this.puller = new ResultPuller(store, options.remote, { jobs: options.jobs });
    // A Redis that went away: jobs wait through a short outage; a long one fails the run with a clear message.
    this.connection.on('close', () => {
      if (this.closing) return;
      this.lostTimer ??= setTimeout(() => {
        const error = new QueueError(
          `lost the queue at ${options.queue} for ${REDIS_GRACE_MS / 1000} s; run again to pick up what finished`,
        );
        for (const fail of this.lost.splice(0)) fail(error);
      }, REDIS_GRACE_MS).unref();
    });
    this.connection.on('ready', () => {
      if (this.lostTimer === undefined) return;
      clearTimeout(this.lostTimer);
      this.lostTimer = undefined;
      // Back after an outage: a Redis without persistence lost the queued jobs, and nothing says which
      // survived; stop rather than wait for jobs that may never finish. What workers finished is on the remote.
      const error = new QueueError(
        `the queue at ${options.queue} went away during the run; run again to pick up what finished`,
      );
      for (const fail of this.lost.splice(0)) fail(error);
    });
  }

  async open(): Promise<void> {
    try {
      await reachable(this.connection, this.options.queue);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  readonly execute: NonNullable<RunOptions['executeElsewhere']> = async ({ stage, key, upstream }) => {
    const { remote } = this.options;
    this.workspace ??= publishWorkspace(this.pipeline, this.store, remote, this.options.jobs);
    const workspace = await this.workspace;
    const pushed = await pushResults(this.store, remote, upstream, { jobs: this.options.jobs });
    if (pushed.notLocal.length) throw new Error(`upstream ${pushed.notLocal[0]!.stage} is not in the store`);

    const queueName = queueFor(this.options.tagsOf(stage.name));
    const shardable = stage.definition.shardable?.(stage.entry) ?? false;
    const shards = shardable ? (this.options.shards ?? (await this.workersOn(queueName))) : 0;
    const data: StageJob = { kind: 'stage', workspace, stage: stage.name, key, shards };
    const opts = { jobId: jobId(data), removeOnComplete: true, removeOnFail: true };
    let job: Job<JobData>;
    if (shards > 1) {
      const children = Array.from({ length: shards }, (_, index): ShardJob => ({
        ...data,
        kind: 'shard',
        index,
        count: shards,
      }));
      const flow = await this.flows.add({
        name: 'stage',
        queueName,
        data,
        opts,
        children: children.map((child) => ({
          name: 'shard',
          queueName,
          data: child,
          opts: { jobId: jobId(child), removeOnComplete: true, removeOnFail: true, failParentOnFailure: true },
        })),
      });
      job = flow.job as Job<JobData>;
      for (const child of children) this.waiting.set(jobId(child), stage.name);
    } else {
      job = await this.queue(queueName).add('stage', data, opts);
    }
    this.waiting.set(job.id!, stage.name);
    try {
      await this.finished(job, queueName);
    } finally {
      this.waiting.delete(job.id!);
    }
    const outcome = await this.puller.pull({ stage: stage.name, key });
    if (outcome === 'absent')
      throw new Error(`a worker finished ${stage.name} but its result is not in ${remote.label}`);
    return this.store.getRecord(key) as StageRecord;
  };

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.lostTimer);
    await Promise.all([...this.events.values()].map((e) => e.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.flows.close();
    for (const duplicate of this.duplicates) duplicate.disconnect();
    this.connection.disconnect();
  }

  /** Workers listening on a queue now (BullMQ names its connections): the default number of shards. */
  private async workersOn(queueName: string): Promise<number> {
    return Math.max(1, await this.queue(queueName).getWorkersCount());
  }

  private queue(name: string): Queue<JobData> {
    let queue = this.queues.get(name);
    if (!queue) this.queues.set(name, (queue = new Queue<JobData>(name, { connection: this.connection })));
    return queue;
  }

  /** Resolves when the job completes; rejects with the worker's message when it fails, or when Redis is lost. */
  private async finished(job: Job<JobData>, queueName: string): Promise<void> {
    let events = this.events.get(queueName);
    if (!events) {
      // QueueEvents reads a stream with a blocking command: it needs a connection of its own.
      const duplicate = keepingErrors(this.connection.duplicate());
      this.duplicates.push(duplicate);
      events = new QueueEvents(queueName, { connection: duplicate });
      events.on('progress', ({ jobId: id, data }) => {
        const stage = this.waiting.get(id);
        const progress = data as JobProgress;
        if (stage && typeof progress === 'object') {
          const note = id.startsWith('shard-') ? `shard ${Number(id.split('-').at(-2)) + 1}` : progress.note;
          this.options.emit({
            type: 'stage-progress',
            stage,
            done: progress.done,
            total: progress.total,
            ...(note ? { note } : {}),
          });
        }
      });
      this.events.set(queueName, events);
      await events.waitUntilReady();
    }
    let fail: (error: Error) => void = () => {};
    try {
      await new Promise<void>((resolve, reject) => {
        fail = reject;
        this.lost.push(fail);
        job.waitUntilFinished(events).then(
          () => resolve(),
          (error: Error) => reject(new Error(error.message)),
        );
      });
    } finally {
      this.lost = this.lost.filter((f) => f !== fail);
    }
  }
}
