import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startCli } from './helpers.js';

/** A real `fer-dag serve` process on a free port, its URL, and what it has written to stderr so far. */
export interface Served {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<number | string | null>;
}

/**
 * Starts `fer-dag serve p.yaml` in `dir` with `args`; with `tmp`, the server's temporary folder goes there
 * (TMPDIR), so a test can see every upload it keeps and that it removes them.
 */
export function serve(dir: string, args: string[], tmp?: string): Promise<Served> {
  const saved = process.env.TMPDIR;
  if (tmp) process.env.TMPDIR = tmp;
  const child = startCli(dir, ['serve', 'p.yaml', '--port', '0', ...args]);
  if (saved === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = saved;
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | string | null>((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? signal));
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      const url = /serving on (http:\/\/\S+)/.exec(stdout)?.[1];
      if (url) resolve({ url, child, stderr: () => stderr, exited });
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code} before listening:\n${stderr}`)));
  });
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export async function upload(
  url: string,
  file: string,
  fields: Record<string, string> = {},
  name = path.basename(file),
): Promise<Answer> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([fs.readFileSync(file)]), name);
  const response = await fetch(`${url}/api/analyze`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Polls a job until it is done, failed or cancelled (or answers an error). */
export async function finished(url: string, id: string, timeoutMs = 60_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${url}/api/jobs/${id}`);
    const body = (await response.json()) as Record<string, unknown>;
    const ended = ['done', 'failed', 'cancelled'].includes(String(body.state));
    if (ended || response.status >= 400) return { status: response.status, body };
    if (Date.now() > deadline) throw new Error(`job ${id} still ${String(body.state)} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
