import { Redis } from 'ioredis';
import { sha256, type Hash } from '../cache/hash.js';
import { RemoteError } from '../remote/backend.js';

/** The queue's name, and how stages needing tags reach only workers that have them: one queue per tag set. */
export const QUEUE = 'fer-dag';

export function queueFor(tags: readonly string[]): string {
  return tags.length ? `${QUEUE}@${[...new Set(tags)].sort().join('+')}` : QUEUE;
}

/** Every queue a worker with these tags listens on: the untagged one and one per subset of its tags. */
export function queuesForWorker(tags: readonly string[]): string[] {
  const sorted = [...new Set(tags)].sort();
  const subsets: string[][] = [[]];
  for (const tag of sorted) for (const subset of [...subsets]) subsets.push([...subset, tag]);
  return subsets.map(queueFor);
}

/** A job carries hashes, never data: the workspace manifest, the stage's name and key, its shard. */
export interface StageJob {
  kind: 'stage';
  workspace: Hash;
  stage: string;
  key: Hash;
  /** How many shard jobs warmed its memo first (a flow's children), or 0. */
  shards: number;
}

export interface ShardJob {
  kind: 'shard';
  workspace: Hash;
  stage: string;
  key: Hash;
  index: number;
  count: number;
}

export type JobData = StageJob | ShardJob;

/** Job ids are the work's identity: adding the same work twice (a coordinator run again) is one job. */
export function jobId(job: JobData): string {
  return job.kind === 'stage' ? `stage-${job.key}` : `shard-${job.key}-${job.index}-${job.count}`;
}

/** Where a finished shard is recorded on the remote (under `ac/`): a shard done once is never done again. */
export function shardRecordKey(key: Hash, index: number, count: number): Hash {
  return sha256(`fer-dag shard\n${key}\n${index}/${count}`);
}

/** What a shard's record on the remote holds: the memo pack of the items it computed, if it computed any. */
export interface ShardRecord {
  stage: string;
  key: Hash;
  index: number;
  count: number;
  memo?: Hash;
}

/** Progress a worker reports on a job, relayed to the coordinator's bar. */
export interface JobProgress {
  done: number;
  total: number;
  note?: string;
}

/**
 * A connection to the queue's Redis (`redis://host:port/db`, `rediss://…`, or `redis+unix:///path/to/socket`).
 * BullMQ needs commands to wait through a reconnect rather than fail (`maxRetriesPerRequest: null`).
 */
export function connect(url: string): Redis {
  const unix = /^redis\+unix:\/\/(\/[^?]+)(?:\?db=(\d+))?$/.exec(url);
  if (!unix && !/^rediss?:\/\//.test(url)) {
    throw new QueueError(`--queue ${url}: give redis://host:port/db, rediss://… or redis+unix:///path/to/socket`);
  }
  const connection = unix
    ? new Redis({ path: unix[1]!, db: Number(unix[2] ?? 0), maxRetriesPerRequest: null })
    : new Redis(url, { maxRetriesPerRequest: null });
  return keepingErrors(connection);
}

/**
 * ioredis reconnects by itself; a connection's errors are kept for the message, not printed as unhandled events.
 * Every connection needs this, a `duplicate()` too: listeners are not copied.
 */
export function keepingErrors(connection: Redis): Redis {
  connection.on('error', (error: Error) => lastErrors.set(connection, error.message));
  return connection;
}

const lastErrors = new WeakMap<Redis, string>();

/** The queue could not be reached or was lost: reported as a remote's errors are, one line and exit 1. */
export class QueueError extends RemoteError {
  constructor(message: string) {
    super(message, true);
  }
}

/**
 * Resolves once Redis answers. A queue that does not answer within `ms` is an error naming it and why (the
 * connection is closed, so the command can end).
 */
export async function reachable(connection: Redis, url: string, ms = 5_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const why = lastErrors.get(connection) ?? `no answer in ${ms / 1000} s`;
      reject(new QueueError(`cannot reach the queue at ${url}: ${why}`));
    }, ms);
  });
  try {
    await Promise.race([connection.ping(), timeout]);
  } catch (error) {
    connection.disconnect();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
