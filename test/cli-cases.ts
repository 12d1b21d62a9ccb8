import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, type CliResult } from './helpers.js';

/** A malformed pipeline given to the real CLI, and what its refusal must say. */
export interface Case {
  name: string;
  /** The pipeline text (p.yaml), or its bytes. */
  spec?: string | Buffer;
  /** What to pass to the CLI instead of p.yaml (a folder, another file). */
  target?: string;
  /** Builds more of the project: files, folders, symlinks. `outside` is a folder beside the project. */
  setup?: (dir: string, outside: string) => void;
  env?: Record<string, string>;
  /** Expected `line:column`, when the case pins it. */
  at?: string;
  message: RegExp;
  run?: boolean;
}

export type TimedResult = CliResult & { ms: number };

/** The real CLI in `cwd`, with FER_DAG_DEBUG cleared unless `env` sets it, timed. */
export function runCli(cwd: string, args: string[], env: Record<string, string> = {}): Promise<TimedResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, FER_DAG_DEBUG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

/** A project folder `proj` with a sibling file and a sibling folder `outside`, which nothing may touch. */
export function makeCase(c: Case): { dir: string; root: string; outside: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-malformed-'));
  const dir = path.join(root, 'proj');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(dir);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(root, 'sibling.txt'), 'keep me');
  fs.writeFileSync(path.join(outside, 'x'), 'keep me too');
  if (c.spec !== undefined) fs.writeFileSync(path.join(dir, 'p.yaml'), c.spec);
  c.setup?.(dir, outside);
  return { dir, root, outside };
}

export function assertRefused(c: Case, result: CliResult, target: string): void {
  const output = result.stdout + result.stderr;
  assert.equal(result.code, 2, output.slice(0, 2000));
  const where = c.at ? `${target}:${c.at}: ` : undefined;
  if (where) assert.ok(output.includes(where), `expected ${where} in:\n${output.slice(0, 2000)}`);
  else assert.match(output, new RegExp(`${target.replace(/\./g, '\\.')}:\\d+:\\d+: `), output.slice(0, 2000));
  assert.match(output, c.message, output.slice(0, 2000));
  assert.doesNotMatch(output, /^\s+at /m, 'a stack trace was printed');
  assert.doesNotMatch(output, /internal error/);
  assert.ok(
    output.split('\n').every((line) => line.length < 300),
    'a huge source line was echoed',
  );
}

export function assertUntouched(root: string, outside: string): void {
  assert.equal(fs.readFileSync(path.join(root, 'sibling.txt'), 'utf8'), 'keep me');
  assert.equal(fs.readFileSync(path.join(outside, 'x'), 'utf8'), 'keep me too');
  assert.ok(fs.existsSync(path.join(root, 'proj')), 'the project folder is gone');
}
