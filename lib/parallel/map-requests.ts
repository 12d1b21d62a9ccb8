import * as os from 'node:os';
import { mapBounded } from './map-bounded.js';
import { WorkerPool } from './pool.js';

export interface RequestsOptions<Q, R> {
  /** The worker script (see `serveRequests`). */
  script: URL;
  /** Items 0 … count − 1 are sent in requests of `perRequest` consecutive indices. */
  count: number;
  perRequest: number;
  /** Worker threads; default one per core, never more than there are requests. */
  workers?: number;
  /** Builds the request for these indices; called just before it is sent, so inputs are read a request at a time. */
  request(indices: number[]): Q;
  /** Hears each reply as it returns (requests finish in any order): one result per index, in the indices' order. */
  onReply(indices: number[], results: R[]): void;
}

/**
 * Per-item work spread over a pool of worker threads, a request of a few items at a time. Callers keep
 * what they hear in `onReply`, so a run stopped half way has everything finished before the stop.
 */
export async function mapRequests<Q, R>(options: RequestsOptions<Q, R>): Promise<void> {
  const { count, perRequest } = options;
  if (count === 0) return;
  const starts: number[] = [];
  for (let i = 0; i < count; i += perRequest) starts.push(i);
  const pool = new WorkerPool<Q, R[]>(
    options.script,
    Math.min(options.workers ?? os.availableParallelism(), starts.length),
    2,
  );
  try {
    await mapBounded(starts, pool.capacity, async (start) => {
      const indices = Array.from({ length: Math.min(perRequest, count - start) }, (_, k) => start + k);
      const results = await pool.run(options.request(indices));
      if (results.length !== indices.length)
        throw new Error(`a worker answered ${results.length} of ${indices.length} items`);
      options.onReply(indices, results);
    });
  } finally {
    await pool.close();
  }
}
