import { spawn } from 'node:child_process';
import {
  endGroups,
  KILL_WAIT_MS,
  registerGroup,
  signalGroups,
  unregisterGroup,
  waitGroupsGone,
} from './process-groups.js';

export interface GroupRunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Aborting ends the whole group: SIGTERM, then SIGKILL after `graceMs`. */
  signal: AbortSignal;
  graceMs?: number;
}

export interface GroupRunResult {
  /** The exit code of the program itself, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  cancelled: boolean;
  /** Set when the program could not be started at all (not found, not executable, no such folder). */
  startError?: NodeJS.ErrnoException;
  /** Processes of its group outlived SIGKILL (stuck in the kernel): its outputs cannot be trusted. */
  groupLeftAlive?: boolean;
}

/** How long a cancelled program gets to exit after SIGTERM before its group is killed. */
export const CANCEL_GRACE_MS = 2000;
/** Output kept per stream; beyond it the text is cut (the log is for reading, not for data). */
const CAPTURE_LIMIT = 64 * 1024 * 1024;
/** How long the pipes may stay open after the group is gone (a program that left its group holds them). */
const PIPE_CLOSE_WAIT_MS = 1000;

class Capture {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private cut = false;

  add(chunk: Buffer): void {
    if (this.bytes + chunk.length > CAPTURE_LIMIT) {
      this.cut = true;
      chunk = chunk.subarray(0, Math.max(0, CAPTURE_LIMIT - this.bytes));
    }
    this.bytes += chunk.length;
    if (chunk.length) this.chunks.push(chunk);
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString('utf8');
    return this.cut ? `${text}\n[fer-dag: cut after ${CAPTURE_LIMIT / 1024 / 1024} MB]\n` : text;
  }
}

/**
 * Runs a program as the leader of its own process group, registered for the store lock and for a forced
 * exit. As Bazel does, when the program itself exits, whatever it left running in its group (a `cmd &`) is
 * killed and waited out before this resolves, so nothing of it can still write into the outputs that are
 * hashed next. Node's child_process rather than execa: execa resolves only once the pipes close, which a
 * background grandchild holding them would delay indefinitely, and its cleanup would load signal-exit,
 * which re-raises SIGINT/SIGTERM and so ends fer-dag before it can stop in order.
 */
export function runInOwnGroup(argv: string[], options: GroupRunOptions): Promise<GroupRunResult> {
  const { cwd, env, signal } = options;
  const graceMs = options.graceMs ?? CANCEL_GRACE_MS;
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pgid = child.pid;
    const stdout = new Capture();
    const stderr = new Capture();
    child.stdout.on('data', (chunk: Buffer) => stdout.add(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
    const closed = (stream: NodeJS.EventEmitter) => new Promise((done) => stream.once('close', done));
    const pipesClosed = Promise.all([closed(child.stdout), closed(child.stderr)]);
    let cancelled = false;
    let settled = false;
    const onAbort = () => {
      cancelled = true;
      if (pgid !== undefined) void endGroups([pgid], graceMs);
    };

    const finish = (result: Omit<GroupRunResult, 'stdout' | 'stderr' | 'cancelled'>) => {
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve({ ...result, stdout: stdout.text(), stderr: stderr.text(), cancelled });
    };

    if (pgid === undefined) {
      child.once('error', (error: NodeJS.ErrnoException) => finish({ code: null, signal: null, startError: error }));
      return;
    }
    registerGroup(pgid);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });

    child.once('exit', (code, exitSignal) => {
      void (async () => {
        signalGroups('SIGKILL', [pgid]);
        const gone = await waitGroupsGone([pgid], KILL_WAIT_MS);
        if (gone) unregisterGroup(pgid); // else it stays recorded with the lock, for the next run to end
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([pipesClosed, new Promise((done) => (timer = setTimeout(done, PIPE_CLOSE_WAIT_MS)))]);
        clearTimeout(timer);
        child.stdout.destroy();
        child.stderr.destroy();
        if (!settled) finish({ code, signal: exitSignal, groupLeftAlive: !gone });
      })();
    });
  });
}
