import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { LRUCache } from 'lru-cache';
import type { Analysis } from './analyze.js';
import { MediaError, type MediaInfo } from './media.js';

export interface JobInput {
  /** A temporary folder the job owns: removed when the job ends, whatever the outcome. */
  dir: string;
  file: string;
  /** The uploaded file's name, for display only. */
  name: string;
  info: MediaInfo;
  fps: number;
}

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface Job {
  id: string;
  name: string;
  kind: MediaInfo['kind'];
  state: JobState;
  progress: { done: number; total: number };
  result?: Analysis;
  error?: { status: number; message: string };
}

export type RunJob = (
  input: JobInput,
  progress: (done: number, total: number) => void,
  signal: AbortSignal,
) => Promise<Analysis>;

export interface JobEvents {
  started?(job: Job): void;
  finished?(job: Job, seconds: number): void;
}

interface Pending {
  job: Job;
  input: JobInput;
  /** Aborted by a cancel or by the server closing: the run ends its ffmpeg and returns. */
  controller: AbortController;
  /** Settles once the job has ended and its folder is gone. */
  ended: Promise<void>;
  end: () => void;
}

/**
 * Analysis jobs, one at a time (each uses every core it can; two at once would only make both slower), in
 * the order they came. Finished jobs are kept for `keep` more jobs so their results can be fetched; their
 * uploads are deleted as soon as they end. A queued or running job can be cancelled.
 */
export class JobQueue {
  private readonly waiting: Pending[] = [];
  private running: Pending | undefined;
  private readonly finished: LRUCache<string, Job>;
  private closing = false;

  constructor(
    private readonly run: RunJob,
    keep = 50,
    private readonly events: JobEvents = {},
  ) {
    this.finished = new LRUCache<string, Job>({ max: keep });
  }

  submit(input: JobInput): Job {
    if (this.closing) {
      fs.rmSync(input.dir, { recursive: true, force: true });
      throw new MediaError('the server is shutting down', 503);
    }
    const job: Job = {
      id: randomUUID(),
      name: input.name,
      kind: input.info.kind,
      state: 'queued',
      progress: { done: 0, total: 0 },
    };
    let end = () => {};
    const ended = new Promise<void>((resolve) => (end = resolve));
    this.waiting.push({ job, input, controller: new AbortController(), ended, end });
    this.next();
    return job;
  }

  get(id: string): Job | undefined {
    return this.pending(id)?.job ?? this.finished.get(id);
  }

  /**
   * Cancels a queued job (it never runs) or a running one (its ffmpeg is killed), and resolves once it has
   * ended and its upload is deleted. Undefined when no such job is queued or running.
   */
  async cancel(id: string): Promise<Job | undefined> {
    const pending = this.pending(id);
    if (!pending) return undefined;
    pending.controller.abort(new Error('cancelled'));
    const queued = this.waiting.indexOf(pending);
    if (queued >= 0) {
      this.waiting.splice(queued, 1);
      this.retire(pending, 'cancelled', performance.now());
    }
    await pending.ended;
    return pending.job;
  }

  /** Refuses new jobs, cancels the queued ones and stops the running one; resolves when all have ended. */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.waiting, ...(this.running ? [this.running] : [])];
    await Promise.all(all.map((p) => this.cancel(p.job.id)));
  }

  private pending(id: string): Pending | undefined {
    return this.running?.job.id === id ? this.running : this.waiting.find((p) => p.job.id === id);
  }

  private next(): void {
    if (this.running) return;
    const pending = this.waiting.shift();
    if (!pending) return;
    this.running = pending;
    void this.execute(pending).finally(() => {
      this.running = undefined;
      this.next();
    });
  }

  private async execute(pending: Pending): Promise<void> {
    const { job, input, controller } = pending;
    const started = performance.now();
    let outcome: 'done' | 'failed' | 'cancelled' = 'done';
    try {
      job.state = 'running';
      this.events.started?.(job);
      job.result = await this.run(
        input,
        (done, total) => {
          job.progress = { done, total };
        },
        controller.signal,
      );
    } catch (error) {
      if (controller.signal.aborted) {
        outcome = 'cancelled';
      } else {
        outcome = 'failed';
        job.error =
          error instanceof MediaError
            ? { status: error.status, message: error.message }
            : { status: 500, message: `analysis failed: ${error instanceof Error ? error.message : String(error)}` };
      }
    } finally {
      this.retire(pending, outcome, started);
    }
  }

  /** The job's last state; its folder is removed whatever the outcome. */
  private retire(pending: Pending, state: 'done' | 'failed' | 'cancelled', started: number): void {
    const { job, input } = pending;
    fs.rmSync(input.dir, { recursive: true, force: true });
    job.state = state;
    if (state !== 'done') delete job.result;
    this.finished.set(job.id, job);
    this.events.finished?.(job, (performance.now() - started) / 1000);
    pending.end();
  }
}
