import { STATUS_CODES } from 'node:http';
import { canonicalJson } from '../cache/hash.js';
import { SynthesisError, type SynthesisRequest, type Synthesizer } from './types.js';

export interface HttpSynthesizerOptions {
  /** One or more server base URLs, e.g. http://127.0.0.1:7860; requests are spread over them (a pool of GPU servers). */
  servers: string[];
  /** Requests in flight per server (default 1). */
  concurrencyPerServer?: number;
  /** Per-request timeout in ms (default 120000). */
  timeoutMs?: number;
  /**
   * Attempts per image, including the first (default 3); between them an exponential backoff starting at
   * backoffMs (default 1000), doubled each time, capped at 30 s.
   */
  attempts?: number;
  backoffMs?: number;
  /**
   * Extra fields merged into every txt2img body (sampler_name, cfg_scale, override_settings with the checkpoint,
   * ...).
   */
  extra?: Record<string, unknown>;
  /**
   * What the servers run (e.g. "sd-v1-4"), part of the identity, since the URL alone does not say which model
   * answers.
   */
  model?: string;
}

const MAX_BACKOFF_MS = 30_000;
const API_HINT = 'is it an AUTOMATIC1111-compatible server started with --api?';

/**
 * Why one attempt failed: `retry` says whether another attempt may go differently, `hint` what the user can do
 * about it.
 */
interface Failure {
  server: string;
  problem: string;
  /** What the server answered, when that helps to see why (an error page, a traceback). */
  body?: string;
  retry: boolean;
  hint: string;
}

/** A Synthesizer that asks running AUTOMATIC1111-compatible servers (`POST /sdapi/v1/txt2img`) for each image. */
export function httpSynthesizer(options: HttpSynthesizerOptions): Synthesizer {
  const servers = options.servers.map(checkServer);
  if (servers.length === 0) throw new Error('httpSynthesizer needs at least one server URL');
  const perServer = positiveInteger(options.concurrencyPerServer ?? 1, 'concurrencyPerServer');
  const attempts = positiveInteger(options.attempts ?? 3, 'attempts');
  const timeoutMs = options.timeoutMs ?? 120_000;
  const backoffMs = options.backoffMs ?? 1000;
  const extra = options.extra ?? {};
  const pool = new ServerPool(servers.length, perServer);

  return {
    // Not the URLs: the same model on another server draws the same image for the same seed.
    identity: `http txt2img ${canonicalJson({ extra, model: options.model ?? null })}`,
    concurrency: servers.length * perServer,
    async generate(request: SynthesisRequest, signal: AbortSignal): Promise<Uint8Array> {
      const body = JSON.stringify(txt2imgBody(request, extra));
      const failures: Failure[] = [];
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (attempt > 1) await sleep(Math.min(backoffMs * 2 ** (attempt - 2), MAX_BACKOFF_MS), signal);
        const lastFailed = failures.at(-1)?.server;
        const slot = await pool.acquire(signal, (i) => servers[i] === lastFailed);
        let outcome: Uint8Array | Failure;
        try {
          outcome = await postTxt2img(servers[slot]!, body, timeoutMs, signal);
        } finally {
          pool.release(slot);
        }
        if (outcome instanceof Uint8Array) return outcome;
        failures.push(outcome);
        if (!outcome.retry) break;
      }
      throw new SynthesisError(describe(failures));
    },
  };
}

/** emotion and subgroup are not sent: the prompt already says them, and the API has no such fields. */
function txt2imgBody(request: SynthesisRequest, extra: Record<string, unknown>): Record<string, unknown> {
  const { prompt, negativePrompt, seed, steps, width, height } = request;
  return { prompt, negative_prompt: negativePrompt, seed, steps, width, height, batch_size: 1, n_iter: 1, ...extra };
}

/** One request, bounded by its own timeout and by the caller's signal; the caller's abort is thrown, never retried. */
async function postTxt2img(
  server: string,
  body: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Uint8Array | Failure> {
  // A controller of our own rather than AbortSignal.any: its listener on the long-lived stage signal is
  // removed when the request ends, and we know whether it was our timeout or the caller that stopped it.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    signal.throwIfAborted();
    let response: Response;
    let text: string;
    try {
      response = await fetch(endpoint(server), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: controller.signal,
      });
      text = await response.text();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (timedOut) {
        return {
          server,
          problem: `no answer within ${timeoutMs} ms (timeout)`,
          retry: true,
          hint: 'is the server stuck or busy with other work? a slow GPU may need a larger timeoutMs',
        };
      }
      return {
        server,
        problem: `cannot reach it (${networkCause(error)})`,
        retry: true,
        hint: `is the server running at that address? ${API_HINT}`,
      };
    }
    return readAnswer(server, response, text);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

function readAnswer(server: string, response: Response, text: string): Uint8Array | Failure {
  if (!response.ok) {
    const status = response.status;
    const problem = `HTTP ${status} (${response.statusText || STATUS_CODES[status] || 'unknown status'})`;
    const failure = { server, problem, body: text };
    if (status >= 500)
      return {
        ...failure,
        retry: true,
        hint: "the server's console shows its error (a GPU out of memory often answers 500)",
      };
    if (status === 429)
      return { ...failure, retry: true, hint: 'the server limits requests: lower concurrencyPerServer' };
    if (status === 404) return { ...failure, retry: false, hint: `the server has no /sdapi/v1/txt2img: ${API_HINT}` };
    if (status === 401 || status === 403)
      return {
        ...failure,
        retry: false,
        hint: 'the server asks for credentials (--api-auth), which this synthesizer does not send',
      };
    return {
      ...failure,
      retry: false,
      hint: 'a bad request stays bad, so it is not retried: check the request and the extra fields (sampler_name, override_settings, ...)',
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { server, problem: 'the answer is not JSON', body: text, retry: true, hint: API_HINT };
  }
  const images = (json as { images?: unknown } | null)?.images;
  if (!Array.isArray(images) || images.length === 0 || typeof images[0] !== 'string') {
    return { server, problem: 'the JSON answer has no images', body: text, retry: true, hint: API_HINT };
  }
  // Some servers answer a data URL rather than bare base64.
  const base64 = images[0].replace(/^data:[^,]*,/, '');
  const bytes = Buffer.from(base64, 'base64');
  if (!isPngOrJpeg(bytes)) {
    return {
      server,
      problem: `images[0] is not a base64 PNG or JPEG (it starts "${clip(base64, 40)}")`,
      retry: true,
      hint: API_HINT,
    };
  }
  // A copy of our own: a small Buffer may be a view into Node's shared pool, which `.buffer` would expose.
  return new Uint8Array(bytes);
}

function isPngOrJpeg(bytes: Uint8Array): boolean {
  const starts = (magic: number[]) => magic.every((b, i) => bytes[i] === b);
  return starts([0x89, 0x50, 0x4e, 0x47]) || starts([0xff, 0xd8, 0xff]);
}

/** e.g. `txt2img at http://127.0.0.1:7860 failed 3 times: HTTP 500 (Internal Server Error); last body "..."; <hint>`. */
function describe(failures: Failure[]): string {
  const last = failures.at(-1)!;
  const others = [...new Set(failures.map((f) => f.server))].filter((s) => s !== last.server);
  const where = others.length > 0 ? `${last.server} (after also trying ${others.join(', ')})` : last.server;
  const times = failures.length === 1 ? 'once' : `${failures.length} times`;
  const retried = last.retry ? '' : ', not retried';
  const body =
    last.body === undefined ? '' : `; ${failures.length > 1 ? 'last body' : 'body'} "${clip(last.body, 200)}"`;
  return `txt2img at ${where} failed ${times}${retried}: ${last.problem}${body}; ${last.hint}`;
}

/**
 * Which server takes the next request: the least busy one with a free slot, and callers wait in order when
 * every slot is taken, so however many callers call generate at once no server gets more than its limit.
 */
class ServerPool {
  private readonly busy: number[];
  private readonly waiting: { avoid: (i: number) => boolean; grant: (i: number) => void }[] = [];
  /** Where the search for a server starts, moved on at each request so ties rotate over the pool. */
  private next = 0;

  constructor(
    count: number,
    private readonly limit: number,
  ) {
    this.busy = new Array<number>(count).fill(0);
  }

  /** A server index; `avoid` marks servers to use only when no other is as free (the one that just failed). */
  acquire(signal: AbortSignal, avoid: (i: number) => boolean): Promise<number> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const free = this.pick(avoid);
    if (free !== undefined) return Promise.resolve(this.take(free));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(signal.reason);
      };
      const waiter = {
        avoid,
        grant: (i: number) => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.take(i));
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  release(i: number): void {
    this.busy[i]!--;
    for (let first = this.waiting[0]; first !== undefined; first = this.waiting[0]) {
      const free = this.pick(first.avoid);
      if (free === undefined) return;
      this.waiting.shift();
      first.grant(free);
    }
  }

  private pick(avoid: (i: number) => boolean): number | undefined {
    let best: number | undefined;
    for (let k = 0; k < this.busy.length; k++) {
      const i = (this.next + k) % this.busy.length;
      if (this.busy[i]! >= this.limit) continue;
      if (
        best === undefined ||
        this.busy[i]! < this.busy[best]! ||
        (this.busy[i] === this.busy[best] && avoid(best) && !avoid(i))
      )
        best = i;
    }
    return best;
  }

  private take(i: number): number {
    this.busy[i]!++;
    this.next = (i + 1) % this.busy.length;
    return i;
  }
}

/** Waits between attempts; the caller's abort ends the wait at once with its reason. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The server as the user wrote it (shown in messages), checked to be an http(s) URL. */
function checkServer(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`httpSynthesizer: server "${server}" is not a URL (e.g. http://127.0.0.1:7860)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`httpSynthesizer: server "${server}" is not an http(s) URL`);
  return server.replace(/\/+$/, '');
}

/** Relative to the base, so a server behind a path prefix (http://host/sd/) keeps it. */
function endpoint(server: string): URL {
  return new URL('sdapi/v1/txt2img', `${server}/`);
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`httpSynthesizer: ${name} must be a positive integer, not ${value}`);
  return value;
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a reset socket) is in its cause. */
function networkCause(error: unknown): string {
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  return cause?.message ?? cause?.code ?? (error instanceof Error ? error.message : String(error));
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
