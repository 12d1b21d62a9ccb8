import { parentPort } from 'node:worker_threads';
import type { WorkerReply } from './pool.js';

/** The worker side of `WorkerPool`: answers each request with `handle`'s result or its error message. */
export function serveRequests<Q, R>(handle: (request: Q) => Promise<{ result: R; transfer?: ArrayBuffer[] }>): void {
  const port = parentPort;
  if (!port) throw new Error('serveRequests must run in a worker thread');
  port.on('message', ({ id, request }: { id: number; request: Q }) => {
    handle(request).then(
      ({ result, transfer }) => port.postMessage({ id, ok: true, result } satisfies WorkerReply<R>, transfer ?? []),
      (error: unknown) => port.postMessage({ id, ok: false, error: error instanceof Error ? error.message : String(error) } satisfies WorkerReply<R>),
    );
  });
}
