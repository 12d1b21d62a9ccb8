import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Store } from '../cache/store.js';
import {
  cli,
  makeProject,
  SLOW_SCRIPT,
  SLOW_STAGE,
  startCli,
  takeRuns,
  threeStageProject,
  waitFor,
} from './helpers.js';

function outputBlobOf(dir: string, stage: string, file: string): string {
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8'));
  return lock.stages[stage].outputs.files[file].hash as string;
}

test('a corrupted blob is found by cache verify, dropped, and recomputed by the next run', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  const store = new Store(path.join(dir, '.fer-dag'));
  const blob = outputBlobOf(dir, 'b', 'out/b.txt');
  fs.chmodSync(store.blobPath(blob), 0o644);
  fs.writeFileSync(store.blobPath(blob), 'bit rot');

  const verify = await cli(dir, 'cache', 'verify', 'p.yaml');
  assert.equal(verify.code, 1);
  assert.match(verify.stdout, new RegExp(`corrupt  ${blob} .*: removed`));
  assert.match(verify.stdout, /dropped {2}result of stage b .*: the next run recomputes it/);
  assert.equal(store.hasBlob(blob), false);

  const status = await cli(dir, 'status', 'p.yaml');
  assert.match(status.stdout, /b {2}stale: its cached result is missing from the store/);
  const rerun = await cli(dir, 'run', 'p.yaml');
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(takeRuns(dir), ['b']);
  assert.equal(store.readBlob(blob).toString(), 'two:one:hello\n');
  const clean = await cli(dir, 'cache', 'verify', 'p.yaml');
  assert.equal(clean.code, 0);
  assert.match(clean.stdout, /store is consistent/);
});

test('a second run on a store in use fails with a message naming the holder, and never corrupts', async () => {
  const dir = makeProject({ 'p.yaml': SLOW_STAGE, 'slow.mjs': SLOW_SCRIPT });
  const first = startCli(dir, ['run', 'p.yaml']);
  const firstDone = new Promise<number | null>((resolve) => first.on('close', resolve));
  await waitFor(() => fs.existsSync(path.join(dir, 'started')), 10_000, 'the first run to start its stage');

  const second = await cli(dir, 'run', 'p.yaml');
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`is in use by pid ${first.pid} on .* \\(fer-dag run p\\.yaml, started .*\\)`));
  assert.match(second.stderr, /pass --wait to queue behind it/);

  // With --wait the second run queues (the first is released only once it says so), then finds the
  // first one's result fresh.
  const waiting = startCli(dir, ['run', 'p.yaml', '--wait']);
  let queuedOut = '';
  waiting.stdout!.on('data', (d) => (queuedOut += d));
  const queuedDone = new Promise<number | null>((resolve) => waiting.on('close', resolve));
  await waitFor(() => queuedOut.includes('waiting for the store lock'), 10_000, 'the queued run to wait');
  assert.match(queuedOut, new RegExp(`waiting for the store lock held by pid ${first.pid}`));
  fs.writeFileSync(path.join(dir, 'release'), '');
  assert.equal(await firstDone, 0);
  assert.equal(await queuedDone, 0);
  assert.match(queuedOut, /nothing to do: all 1 stages are fresh/);
  assert.deepEqual(takeRuns(dir), ['slow']);
  assert.equal((await cli(dir, 'cache', 'verify', 'p.yaml')).code, 0);
});

test('a run killed mid-stage leaves the store consistent: the next run redoes only the killed stage', async () => {
  const dir = makeProject({
    'p.yaml': `version: 1
stages:
  before:
    type: command
    cmd: [node, -e, "require('fs').mkdirSync('out',{recursive:true}); require('fs').appendFileSync('runs.log','before\\\\n'); require('fs').writeFileSync('out/before.txt','b')"]
    outs: [out/before.txt]
  slow:
    type: command
    cmd: [node, slow.mjs]
    deps: [slow.mjs, out/before.txt]
    outs: [out/slow.txt]
`,
    'slow.mjs': SLOW_SCRIPT,
  });
  const run = startCli(dir, ['run', 'p.yaml']);
  const closed = new Promise((resolve) => run.on('close', resolve));
  await waitFor(() => fs.existsSync(path.join(dir, 'started')), 10_000, 'the slow stage to start');
  run.kill('SIGKILL');
  await closed;
  // The orphaned command is ended too, as a machine crash would.
  process.kill(Number(fs.readFileSync(path.join(dir, 'started'), 'utf8')), 'SIGKILL');
  assert.ok(fs.existsSync(path.join(dir, '.fer-dag', 'lock')), 'the killed run could not release its lock');
  assert.deepEqual(takeRuns(dir), ['before', 'slow']);

  fs.rmSync(path.join(dir, 'started'));
  fs.writeFileSync(path.join(dir, 'release'), '');
  const next = await cli(dir, 'run', 'p.yaml');
  assert.equal(next.code, 0, next.stderr);
  assert.deepEqual(takeRuns(dir), ['slow']);
  assert.match(next.stdout, /fresh {4}before/);
  const verify = await cli(dir, 'cache', 'verify', 'p.yaml');
  assert.match(verify.stdout, /store is consistent/);
});

test('cache gc keeps what the lockfile references and removes results no lockfile names', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  const oldBlob = outputBlobOf(dir, 'c', 'out/c.txt');
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs.readFileSync(path.join(dir, 'p.yaml'), 'utf8').replace('tag: three', 'tag: drei'),
  );
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  const store = new Store(path.join(dir, '.fer-dag'));
  assert.equal(store.listRecordKeys().length, 4);

  const gc = await cli(dir, 'cache', 'gc', 'p.yaml');
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, /kept 3 stage results/);
  assert.match(gc.stdout, /removed 1 stage results/);
  assert.equal(store.listRecordKeys().length, 3);
  assert.equal(store.hasBlob(oldBlob), false);
  const after = await cli(dir, 'run', 'p.yaml');
  assert.match(after.stdout, /nothing to do/);
  assert.deepEqual(takeRuns(dir), []);
});
