import * as os from 'node:os';
import { Worker } from 'node:worker_threads';

/** What a worker script posts back for each request. */
export type WorkerReply<R> = { id: number; ok: true; result: R } | { id: number; ok: false; error: string };

interface Pending<R> {
  resolve(result: R): void;
  reject(error: Error): void;
}

interface Lane<R> {
  worker: Worker;
  inFlight: Map<number, Pending<R>>;
}

/**
 * A fixed set of worker threads running one script (see `serveRequests`). Per-image work (decoding,
 * inference) is CPU-bound JavaScript, so threads, not promises, are what puts both cores to work.
 * Each lane keeps a few requests queued so a worker never idles while the main thread is busy.
 */
export class WorkerPool<Q, R> {
  private readonly lanes: Lane<R>[];
  private nextId = 0;
  private broken: Error | undefined;

  constructor(
    script: URL,
    size = os.availableParallelism(),
    private readonly depth = 4,
  ) {
    this.lanes = Array.from({ length: Math.max(1, size) }, () => {
      const lane: Lane<R> = { worker: new Worker(script), inFlight: new Map() };
      lane.worker.on('message', (reply: WorkerReply<R>) => {
        const pending = lane.inFlight.get(reply.id);
        lane.inFlight.delete(reply.id);
        if (reply.ok) pending?.resolve(reply.result);
        else pending?.reject(new Error(reply.error));
      });
      lane.worker.on('error', (error) => this.fail(lane, error));
      lane.worker.on('exit', (code) => this.fail(lane, new Error(`a worker thread exited (code ${code})`)));
      return lane;
    });
  }

  get size(): number {
    return this.lanes.length;
  }

  /** How many requests can usefully be outstanding at once. */
  get capacity(): number {
    return this.lanes.length * this.depth;
  }

  run(request: Q, transfer: ArrayBuffer[] = []): Promise<R> {
    const lane = this.lanes.reduce((best, l) => (l.inFlight.size < best.inFlight.size ? l : best));
    return this.send(lane, request, transfer);
  }

  /** Sends to one particular worker, for workers that keep state of their own (a model replica). */
  runOn(index: number, request: Q, transfer: ArrayBuffer[] = []): Promise<R> {
    const lane = this.lanes[index];
    if (!lane) throw new Error(`no worker ${index} in a pool of ${this.lanes.length}`);
    return this.send(lane, request, transfer);
  }

  private send(lane: Lane<R>, request: Q, transfer: ArrayBuffer[]): Promise<R> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      lane.inFlight.set(id, { resolve, reject });
      lane.worker.postMessage({ id, request }, transfer);
    });
  }

  async close(): Promise<void> {
    this.broken ??= new Error('the worker pool was closed');
    await Promise.all(this.lanes.map((lane) => lane.worker.terminate()));
  }

  private fail(lane: Lane<R>, error: Error): void {
    if (!this.broken) this.broken = error;
    for (const pending of lane.inFlight.values()) pending.reject(error);
    lane.inFlight.clear();
  }
}
