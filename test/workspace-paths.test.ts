import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Store } from '../cache/store.js';
import { describeError, REPORT_HINT } from '../engine/debug.js';
import type { EngineEvent } from '../engine/events.js';
import { runPipeline } from '../engine/scheduler.js';
import { loadPipeline } from '../engine/spec/load.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import { outProblem, removeWorkspaceOut, UnsafeOutError } from '../engine/workspace-paths.js';
import { cli, writeFiles } from './helpers.js';
import { builtInRegistry } from '../stages/registry.js';

/**
 * The loader refuses an out that reaches beyond the project (test/malformed-pipelines covers how); these tests
 * prove the second line of defence: whatever reaches the scheduler or the command stage, nothing outside the
 * pipeline's folder is ever removed.
 */

/** `root/proj` holding `files`, beside `root/sibling.txt`, which must survive every test. */
function project(files: Record<string, string>): { root: string; dir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-outs-'));
  const dir = path.join(root, 'proj');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(root, 'sibling.txt'), 'keep me');
  writeFiles(dir, files);
  return { root, dir };
}

const WRITES_O = `version: 1
stages:
  s:
    type: command
    cmd: [node, -e, "require('fs').writeFileSync('o.txt', 'made')"]
    outs: [o.txt]
`;

function load(dir: string): Pipeline {
  const loaded = loadPipeline(path.join(dir, 'p.yaml'), builtInRegistry);
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.diagnostics));
  return loaded.value;
}

async function run(pipeline: Pipeline): Promise<{ failed: string[]; events: EngineEvent[] }> {
  const events: EngineEvent[] = [];
  const summary = await runPipeline(pipeline, new Store(pipeline.storeDir), { jobs: 1, emit: (e) => events.push(e) });
  return { failed: summary.failed, events };
}

function failure(events: EngineEvent[]): string {
  const failed = events.find((e) => e.type === 'stage-failed') as { message?: string } | undefined;
  return String(failed?.message);
}

test('removeWorkspaceOut throws instead of deleting the parent folder, the project or an absolute path', () => {
  const { root, dir } = project({ 'keep.txt': 'x' });
  try {
    for (const out of ['..', '.', '../sibling.txt', root, 'a/../../x']) {
      assert.throws(() => removeWorkspaceOut(dir, out), UnsafeOutError, out);
    }
    assert.equal(fs.readFileSync(path.join(root, 'sibling.txt'), 'utf8'), 'keep me');
    assert.ok(fs.existsSync(path.join(dir, 'keep.txt')));
    removeWorkspaceOut(dir, 'keep.txt');
    assert.equal(fs.existsSync(path.join(dir, 'keep.txt')), false, 'an out inside the project is removed');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('an out whose folder became a symlink to elsewhere after validation is refused, not followed', () => {
  const { root, dir } = project({});
  try {
    fs.mkdirSync(path.join(root, 'elsewhere'));
    fs.writeFileSync(path.join(root, 'elsewhere', 'o.txt'), 'not yours');
    assert.equal(outProblem(dir, 'sub/o.txt'), undefined);
    fs.symlinkSync(path.join(root, 'elsewhere'), path.join(dir, 'sub'));
    assert.throws(() => removeWorkspaceOut(dir, 'sub/o.txt'), /reaches .*elsewhere\/o\.txt through a symlink/);
    assert.equal(fs.readFileSync(path.join(root, 'elsewhere', 'o.txt'), 'utf8'), 'not yours');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('restoring a fresh stage checks its outs again: outs changed to ".." fail the stage, delete nothing', async () => {
  const { root, dir } = project({ 'p.yaml': WRITES_O });
  try {
    const pipeline = load(dir);
    assert.deepEqual((await run(pipeline)).failed, []);
    // The same key (entry unchanged) with outs the loader would have refused: only the scheduler is left to stop rm.
    pipeline.stages.get('s')!.outs = ['..'];
    const { failed, events } = await run(pipeline);
    assert.deepEqual(failed, ['s']);
    assert.match(failure(events), /^refusing to delete out "\.\.": it leaves the pipeline's folder/);
    assert.equal(fs.readFileSync(path.join(root, 'sibling.txt'), 'utf8'), 'keep me');
    assert.ok(fs.existsSync(path.join(dir, 'p.yaml')));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the command stage checks its outs before removing them: outs changed to ".." fail without running', async () => {
  const { root, dir } = project({ 'p.yaml': WRITES_O });
  try {
    const pipeline = load(dir);
    pipeline.stages.get('s')!.entry.outs = ['..'];
    const { failed, events } = await run(pipeline);
    assert.deepEqual(failed, ['s']);
    assert.match(failure(events), /^refusing to delete out "\.\.": it leaves the pipeline's folder/);
    assert.doesNotMatch(failure(events), /\n\s+at /, 'no stack trace in the message');
    assert.equal(fs.existsSync(path.join(dir, 'o.txt')), false, 'the command ran');
    assert.equal(fs.readFileSync(path.join(root, 'sibling.txt'), 'utf8'), 'keep me');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the command stage knows the protected places too: an out changed to the store fails, the store stays', async () => {
  const { root, dir } = project({ 'p.yaml': WRITES_O });
  try {
    const pipeline = load(dir);
    assert.deepEqual((await run(pipeline)).failed, []);
    pipeline.stages.get('s')!.entry.outs = ['.fer-dag'];
    const { failed, events } = await run(pipeline);
    assert.deepEqual(failed, ['s']);
    assert.match(failure(events), /^refusing to delete out "\.fer-dag": it is the store/);
    assert.ok(fs.existsSync(path.join(dir, '.fer-dag', 'runs')), 'the store is still there');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the repro of issue 17: run of outs: [..] exits 2 and the sibling file survives', async () => {
  const spec = 'version: 1\nstages:\n  s:\n    type: command\n    cmd: [sh, -c, "true"]\n    outs: [..]\n';
  const { root, dir } = project({ 'p.yaml': spec });
  try {
    const result = await cli(dir, 'run', 'p.yaml');
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^p\.yaml:6:12: stages\.s\.outs: "\.\." leaves the pipeline's folder/);
    assert.equal(fs.readFileSync(path.join(root, 'sibling.txt'), 'utf8'), 'keep me');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a stage error is its message, with the stack only in debug mode; a bug says how to report it', () => {
  const saved = process.env.FER_DAG_DEBUG;
  try {
    delete process.env.FER_DAG_DEBUG;
    assert.equal(describeError(new Error('params.split adds up to 0.7')), 'params.split adds up to 0.7');
    assert.equal(describeError(new TypeError('x is undefined')), `x is undefined\n(${REPORT_HINT})`);
    process.env.FER_DAG_DEBUG = '1';
    assert.match(describeError(new Error('boom')), /^Error: boom\n\s+at /);
  } finally {
    if (saved === undefined) delete process.env.FER_DAG_DEBUG;
    else process.env.FER_DAG_DEBUG = saved;
  }
});
