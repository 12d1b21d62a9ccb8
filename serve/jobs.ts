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

export type JobState = 'queued' | 'running' | 'done' | 'failed';

export interface Job {
  id: string;
  name: string;
  kind: MediaInfo['kind'];
  state: JobState;
  progress: { done: number; total: number };
  result?: Analysis;
  error?: { status: number; message: string };
}

export type RunJob = (input: JobInput, progress: (done: number, total: number) => void, signal: AbortSignal) => Promise<Analysis>;

export interface JobEvents {
  started?(job: Job): void;
  finished?(job: Job, seconds: number): void;
}

/**
 * Analysis jobs, one at a time (each uses every core it can; two at once would only make both slower), in
 * the order they came. Finished jobs are kept for `keep` more jobs so their results can be fetched; their
 * uploads are deleted as soon as they end.
 */
export class JobQueue {
  private readonly active = new Map<string, Job>();
  private readonly finished: LRUCache<string, Job>;
  private readonly controller = new AbortController();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly run: RunJob, keep = 50, private readonly events: JobEvents = {}) {
    this.finished = new LRUCache<string, Job>({ max: keep });
  }

  submit(input: JobInput): Job {
    const job: Job = { id: randomUUID(), name: input.name, kind: input.info.kind, state: 'queued', progress: { done: 0, total: 0 } };
    this.active.set(job.id, job);
    this.chain = this.chain.then(() => this.execute(job, input));
    return job;
  }

  get(id: string): Job | undefined {
    return this.active.get(id) ?? this.finished.get(id);
  }

  /** Stops the running job and refuses the queued ones; their folders are removed. */
  async close(): Promise<void> {
    this.controller.abort();
    await this.chain;
  }

  private async execute(job: Job, input: JobInput): Promise<void> {
    const started = performance.now();
    try {
      if (this.controller.signal.aborted) throw new MediaError('the server is shutting down', 503);
      job.state = 'running';
      this.events.started?.(job);
      job.result = await this.run(input, (done, total) => {
        job.progress = { done, total };
      }, this.controller.signal);
      job.state = 'done';
    } catch (error) {
      job.state = 'failed';
      job.error = error instanceof MediaError
        ? { status: error.status, message: error.message }
        : { status: 500, message: `analysis failed: ${error instanceof Error ? error.message : String(error)}` };
    } finally {
      fs.rmSync(input.dir, { recursive: true, force: true });
      this.active.delete(job.id);
      this.finished.set(job.id, job);
      this.events.finished?.(job, (performance.now() - started) / 1000);
    }
  }
}
