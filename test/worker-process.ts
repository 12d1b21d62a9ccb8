import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCli } from './helpers.js';
import { stopChild } from './servers.js';

/** A `fer-dag worker` process and the NDJSON lines it printed so far. */
export interface WorkerProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stop(): Promise<void>;
}

export function startWorker(cwd: string, queue: string, remote: string, ...extra: string[]): WorkerProcess {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-worker-'));
  const child = startCli(cwd, ['worker', '--queue', queue, '--remote', remote, '--dir', dir, ...extra], process.env);
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr!.on('data', () => {});
  return {
    child,
    lines,
    stop: async () => {
      await stopChild(child, 'SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitForLine(
  worker: WorkerProcess,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = worker.lines.find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such line from the worker: ${JSON.stringify(worker.lines)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
