import { parentPort } from 'node:worker_threads';
import type { WorkerReply } from './pool.js';

/**
 * The worker side of `WorkerPool`: answers each request with `handle`'s result or its error message.
 * Requests are handled one at a time, in arrival order. The pool keeps several queued per worker, and a
 * handler that awaits (loading a model, selecting a tfjs backend) would otherwise interleave with the
 * next one: two concurrent `tf.setBackend` calls left one request on a half-initialised backend
 * ("Cannot read properties of undefined (reading 'get')"), now and then, under load.
 */
export function serveRequests<Q, R>(handle: (request: Q) => Promise<{ result: R; transfer?: ArrayBuffer[] }>): void {
  const port = parentPort;
  if (!port) throw new Error('serveRequests must run in a worker thread');
  let queue: Promise<void> = Promise.resolve();
  port.on('message', ({ id, request }: { id: number; request: Q }) => {
    queue = queue.then(() =>
      handle(request).then(
        ({ result, transfer }) => port.postMessage({ id, ok: true, result } satisfies WorkerReply<R>, transfer ?? []),
        (error: unknown) =>
          port.postMessage({
            id,
            ok: false,
            error: error instanceof Error ? error.message : String(error),
          } satisfies WorkerReply<R>),
      ),
    );
  });
}
