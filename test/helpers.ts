import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../cache/store.js';
import type { Lockfile } from '../engine/lockfile.js';
import type { ManifestRecord } from '../datasets/record.js';
import type { InputView } from '../engine/stage.js';

/** The compiled CLI (tests run from dist/test/). */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A throwaway project folder with the given files (parent folders created). */
export function makeProject(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-test-'));
  writeFiles(dir, files);
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
}

export function startCli(cwd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env });
}

/** Runs the real CLI as a user would, in `cwd`. */
export function cli(cwd: string, ...args: string[]): Promise<CliResult> {
  return cliWithEnv(process.env, cwd, ...args);
}

/** `cli` with these environment variables. */
export function cliWithEnv(env: NodeJS.ProcessEnv, cwd: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startCli(cwd, args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Stage names a run executed, read from its NDJSON events. */
export function executedStages(result: CliResult): string[] {
  return events(result)
    .filter((e) => e.type === 'stage-done')
    .map((e) => String(e.stage));
}

export function events(result: CliResult): Record<string, unknown>[] {
  return result.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A three-stage command pipeline (a → b → c) whose stages append their name to `runs.log` when they run,
 * so a test sees exactly which commands executed. Each stage copies its input with a prefix.
 */
export const THREE_STAGES = `version: 1
seed: 3
stages:
  a:
    type: command
    cmd: [node, step.mjs, a, src.txt, out/a.txt, "\${params.tag}"]
    deps: [step.mjs, src.txt]
    outs: [out/a.txt]
    params: { tag: one }
  b:
    type: command
    cmd: [node, step.mjs, b, out/a.txt, out/b.txt, "\${params.tag}"]
    deps: [step.mjs, out/a.txt]
    outs: [out/b.txt]
    params: { tag: two }
  c:
    type: command
    cmd: [node, step.mjs, c, out/b.txt, out/c.txt, "\${params.tag}"]
    deps: [step.mjs, out/b.txt]
    outs: [out/c.txt]
    params: { tag: three }
`;

export const STEP_SCRIPT = `import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
const [name, input, output, tag] = process.argv.slice(2);
appendFileSync('runs.log', name + '\\n');
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, tag + ':' + readFileSync(input, 'utf8'));
`;

export function threeStageProject(): string {
  return makeProject({ 'p.yaml': THREE_STAGES, 'step.mjs': STEP_SCRIPT, 'src.txt': 'hello\n' });
}

/** Stages that ran since the last call (and clears the log). */
export function takeRuns(dir: string): string[] {
  const log = path.join(dir, 'runs.log');
  if (!fs.existsSync(log)) return [];
  const runs = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  fs.rmSync(log);
  return runs;
}

/** A stage's outputs after a run of `p.yaml` in `dir`, read through its lockfile and the project's store. */
export function stageOutput(dir: string, stage: string) {
  const store = new Store(path.join(dir, '.fer-dag'));
  const entry = (JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile).stages[stage]!;
  const files = entry.outputs.files as Record<string, { hash: string }>;
  const text = (rel: string) => store.readBlob(files[rel]!.hash).toString();
  return {
    files,
    tree: entry.outputs.tree,
    text,
    json: (rel: string) => JSON.parse(text(rel)),
    /** A manifest-shaped file's records (manifest.jsonl by default). */
    records: (rel = 'manifest.jsonl') =>
      text(rel)
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ManifestRecord),
    blob: (hash: string) => store.readBlob(hash),
    metrics: () => store.getRecord(entry.key)!.metrics as Record<string, number>,
  };
}

/** A command stage that runs until the test writes `release` (tests of the store lock and of gc). */
export const SLOW_STAGE = `version: 1
stages:
  slow:
    type: command
    cmd: [node, slow.mjs]
    deps: [slow.mjs]
    outs: [out/slow.txt]
`;
// Announces that it started, then waits until the test lets it finish (or kills it).
export const SLOW_SCRIPT = `import { existsSync, mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
appendFileSync('runs.log', 'slow\\n');
writeFileSync('started', String(process.pid));
while (!existsSync('release')) await new Promise((r) => setTimeout(r, 20));
mkdirSync('out', { recursive: true });
writeFileSync('out/slow.txt', 'done');
`;

/**
 * A stage's output as its consumer sees it, over files held in memory: a model saved through storeSaveHandler
 * into `files` reads back through it. Files added later are seen too.
 */
export function memoryView(name: string, treeHash: string, files: Map<string, Uint8Array>): InputView {
  return {
    name,
    kind: 'stage',
    treeHash,
    get files() {
      return Object.fromEntries([...files.keys()].map((k) => [k, { hash: k }]));
    },
    readFile: (rel: string) => Buffer.from(files.get(rel)!),
    readText: (rel: string) => Buffer.from(files.get(rel)!).toString(),
  } as unknown as InputView;
}
