import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Result, ResultPromise } from 'execa';
import { canonicalJson } from '../cache/hash.js';
import { KILL_WAIT_MS, registerGroup, signalGroups, unregisterGroup, waitGroupsGone } from '../lib/process-groups.js';
import { SynthesisError, type SynthesisRequest, type Synthesizer } from './types.js';

/**
 * A synthesizer that runs a long-lived program (a Python diffusers script, say) and talks to it in JSON lines:
 * one request a line on its stdin, one answer a line on its stdout, the image in a file. docs/synthesizers.md
 * is the protocol's reference; keep the two in step.
 */
export interface CommandSynthesizerOptions {
  /**
   * The program and its arguments, e.g.
   * ['python3', 'scripts/sd14-adapter.py', '--model', 'CompVis/stable-diffusion-v1-4'].
   */
  command: string[];
  /** Working directory for the program (the pipeline's folder). */
  cwd: string;
  /** Seconds to wait for one image before the program is considered stuck (default 600). */
  timeoutSeconds?: number;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Declared by the user: what model/version the program runs, part of the identity. */
  model?: string;
  /** Requests the program is sent before earlier ones are answered (default 1: one GPU, one image at a time). */
  concurrency?: number;
}

/** The end of the program's stderr is where the cause of a crash is; the rest is model-loading chatter. */
const STDERR_TAIL_CHARS = 2048;
/** How long close() lets the program exit on its own after its stdin ends, and again after SIGTERM. */
const CLOSE_GRACE_MS = 2000;
/**
 * A program that exits is started again this many times in the synthesizer's life; after that every image fails
 * fast.
 */
const RESTARTS = 1;

// detached: the program leads its own process group (see engine/process-groups.ts), so stopping it stops the
// workers it forks too, and a run killed outright leaves the group recorded with the store lock for the next
// run to end. It also keeps execa's cleanup (signal-exit, which re-raises SIGINT) out of the process.
const PIPES = { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false, detached: true } as const;
type Subprocess = ResultPromise<typeof PIPES>;

/** One request as the program reads it (snake_case: the program is most likely Python). */
interface WireRequest {
  id: number;
  prompt: string;
  negative_prompt: string;
  seed: number;
  width: number;
  height: number;
  steps: number;
  out: string;
}

interface Answer {
  ok: boolean;
  error?: string;
}

interface Waiter {
  settle(answer: Answer | Error): void;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : Object.assign(new Error('image generation was cancelled'), { name: 'AbortError' });
}

/** The id and answer of a stdout line, or undefined for anything else (libraries print progress bars and banners). */
function parseAnswer(line: string): { id: number; answer: Answer } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { id, ok, error } = value as Record<string, unknown>;
  if (typeof id !== 'number') return undefined;
  if (ok === true) return { id, answer: { ok: true } };
  return {
    id,
    answer: { ok: false, error: typeof error === 'string' ? error : `no error given (it answered ${line.trim()})` },
  };
}

function isPngOrJpeg(bytes: Uint8Array): boolean {
  const png = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  return png || jpeg;
}

/** Lets `limit` callers through at once; the others wait in arrival order (or until their signal aborts). */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.free = limit;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(grant), 1);
        reject(abortError(signal));
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** One run of the program: the requests it was sent and has not answered, and the end of its stderr. */
class Program {
  private readonly waiters = new Map<number, Waiter>();
  private stderrTail = '';
  /** Set when the process has ended: the reason every request sent to it fails. */
  ended: SynthesisError | undefined;
  /** Whether the process ever started: one that could not (not found) is not worth starting again. */
  readonly spawned: boolean;
  readonly exited: Promise<void>;

  constructor(
    private readonly subprocess: Subprocess,
    private readonly label: string,
    private readonly cwd: string,
  ) {
    this.spawned = subprocess.pid !== undefined;
    const pgid = subprocess.pid;
    if (pgid !== undefined) registerGroup(pgid);
    subprocess.stderr.setEncoding('utf8');
    subprocess.stderr.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    readline.createInterface({ input: subprocess.stdout, crlfDelay: Infinity }).on('line', (line) => {
      const parsed = parseAnswer(line);
      // An id nobody waits for was given up (timeout, cancel): its late answer changes nothing.
      if (parsed) this.waiters.get(parsed.id)?.settle(parsed.answer);
    });
    // execa settles once the process has exited and its stdout has ended, so every answer it wrote was read first.
    this.exited = subprocess.then(async (result) => {
      this.ended ??= new SynthesisError(this.describeEnd(result));
      for (const waiter of [...this.waiters.values()]) waiter.settle(this.ended);
      if (pgid === undefined) return;
      // What the program left running in its group ends with it.
      signalGroups('SIGKILL', [pgid]);
      if (await waitGroupsGone([pgid], KILL_WAIT_MS)) unregisterGroup(pgid);
    });
  }

  private describeEnd(result: Result<typeof PIPES>): string {
    const program = `the synthesizer program ${this.label}`;
    if (!this.spawned) {
      const cause = result.originalMessage ?? result.shortMessage;
      // spawn says ENOENT for a missing working folder too, which "install it" would not fix.
      if (!fs.existsSync(this.cwd))
        return `${program} could not start: its working folder ${this.cwd} does not exist (${cause})`;
      if (result.code === 'ENOENT') {
        return `${program} was not found (${cause}): install it or put it on PATH, or give its full path (or ./path, relative to ${this.cwd}) as the first item of command`;
      }
      if (result.code === 'EACCES')
        return `${program} could not start (${cause}): is it a program, and executable (chmod +x)?`;
      return `${program} could not start: ${cause}`;
    }
    const how =
      result.exitCode !== undefined
        ? `exited with code ${result.exitCode}`
        : result.signal
          ? `was killed by ${result.signal}`
          : `failed: ${result.shortMessage}`;
    return `${program} ${how}; its stderr: ${this.stderrTail.trim() || '(empty)'}`;
  }

  /** Sends one request; settles with the program's answer, or fails on timeout, abort or the program's end. */
  ask(request: WireRequest, timeoutMs: number, signal: AbortSignal): Promise<Answer> {
    if (this.ended) return Promise.reject(this.ended);
    if (signal.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const settle = (outcome: Answer | Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(request.id);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const onAbort = () => settle(abortError(signal));
      // A timeout gives up this image only: the program may be slow rather than dead, and the next image may come.
      const timer = setTimeout(
        () =>
          settle(
            new SynthesisError(
              `the synthesizer program ${this.label} did not answer request ${request.id} within ${timeoutMs / 1000} s (timeoutSeconds); this image was given up`,
            ),
          ),
        timeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(request.id, { settle });
      this.subprocess.stdin.write(`${JSON.stringify(request)}\n`);
    });
  }

  /** Ends stdin (the protocol's "no more requests"), then asks harder: SIGTERM, SIGKILL. */
  async stop(): Promise<void> {
    this.ended ??= new SynthesisError(`the synthesizer program ${this.label} was closed`);
    this.subprocess.stdin.end();
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (await settlesWithin(this.exited, CLOSE_GRACE_MS)) return;
      if (this.subprocess.pid !== undefined) signalGroups(signal, [this.subprocess.pid]);
    }
    await this.exited;
  }
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function commandSynthesizer(options: CommandSynthesizerOptions): Synthesizer {
  const { command, cwd, env = {}, model } = options;
  const concurrency = options.concurrency ?? 1;
  const timeoutMs = (options.timeoutSeconds ?? 600) * 1000;
  if (command.length === 0) throw new Error('a command synthesizer needs a command (the program and its arguments)');
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new Error(`concurrency must be a whole number of at least 1, not ${concurrency}`);
  if (!(timeoutMs > 0)) throw new Error(`timeoutSeconds must be positive, not ${options.timeoutSeconds}`);

  const label = `\`${command.join(' ')}\``;
  const slots = new Slots(concurrency);
  let program: Program | undefined;
  let restartsLeft = RESTARTS;
  let outDir: string | undefined;
  let lastId = 0;
  let closed = false;

  /** The running program: started on first use, restarted once after it exits, never after it could not start. */
  function running(execa: typeof import('execa').execa): Program {
    if (closed) throw new SynthesisError(`the synthesizer program ${label} was already closed`);
    if (program && !program.ended) return program;
    if (program) {
      if (!program.spawned || restartsLeft === 0) throw program.ended!;
      restartsLeft--;
    }
    outDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-synthesis-'));
    program = new Program(execa(command[0]!, command.slice(1), { ...PIPES, cwd, env }), label, cwd);
    return program;
  }

  async function readImage(id: number, out: string): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(out);
    } catch {
      throw new SynthesisError(
        `the synthesizer program ${label} answered ok for request ${id} but wrote no file at ${out}`,
      );
    }
    await fs.promises.rm(out, { force: true });
    if (!isPngOrJpeg(bytes)) {
      const start =
        bytes
          .subarray(0, 4)
          .toString('hex')
          .replace(/(..)(?!$)/g, '$1 ') || 'nothing: it is empty';
      throw new SynthesisError(
        `the synthesizer program ${label} wrote ${out} for request ${id} but it is not a PNG or JPEG (it starts with ${start})`,
      );
    }
    return bytes;
  }

  return {
    // The command and the model the user declares it runs are what shape the images; cwd, env (tokens, cache
    // folders), timeout and concurrency do not. JSON keeps ['a b'] and ['a', 'b'] apart.
    identity: `command ${canonicalJson({ command, model: model ?? null })}`,
    concurrency,

    async generate(request: SynthesisRequest, signal: AbortSignal): Promise<Uint8Array> {
      if (signal.aborted) throw abortError(signal);
      const { execa } = await import('execa'); // loaded when an image is asked for, not whenever the module is
      await slots.acquire(signal);
      try {
        const current = running(execa);
        const id = ++lastId;
        const out = path.join(outDir!, `${id}.png`);
        const { prompt, negativePrompt, seed, width, height, steps } = request;
        const answer = await current.ask(
          { id, prompt, negative_prompt: negativePrompt, seed, width, height, steps, out },
          timeoutMs,
          signal,
        );
        if (!answer.ok)
          throw new SynthesisError(`the synthesizer program ${label} could not generate image ${id}: ${answer.error}`);
        return await readImage(id, out);
      } finally {
        slots.release();
      }
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (program && !program.ended) await program.stop();
      if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
    },
  };
}
