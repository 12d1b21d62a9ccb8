import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Lockfile } from '../engine/lockfile.js';
import { cli, makeProject, startCli, waitFor, type CliResult } from './helpers.js';

/** True while the process runs; a zombie (exited, not yet reaped by init) has ended for this purpose. */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

function exited(child: ChildProcess): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const readPid = (dir: string, file: string) => Number(fs.readFileSync(path.join(dir, file), 'utf8').trim());
const hasText = (file: string) => fs.existsSync(file) && fs.statSync(file).size > 0;
const lockFile = (dir: string) => path.join(dir, '.fer-dag', 'lock');
const STACK_FRAME = /\n\s+at /;

function cleanUp(dir: string, pidFiles: string[]): void {
  for (const file of pidFiles) {
    if (!fs.existsSync(path.join(dir, file))) continue;
    try {
      process.kill(readPid(dir, file), 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

// The command appends a line every 0.1 s for 4 s. `out/e.txt` (not `out`) is the declared out so that the next
// run's removal of it does not make an orphan's `>>` fail and its shell die of SIGPIPE on the dead stderr pipe.
const APPENDER = `version: 1
stages:
  e:
    type: command
    cmd: [sh, -c, "echo $$ > appender.pid; for i in $(seq 1 40); do echo line$i >> out/e.txt; sleep 0.1; done"]
    outs: [out/e.txt]
`;

test("a run killed with SIGKILL leaves no orphan writing into the next run's outs", async () => {
  const dir = makeProject({ 'p.yaml': APPENDER });
  try {
    const first = startCli(dir, ['run', 'p.yaml']);
    const firstDone = exited(first);
    const out = path.join(dir, 'out/e.txt');
    const written = () => hasText(out) && fs.readFileSync(out, 'utf8').split('\n').length > 5;
    await waitFor(written, 15_000, 'the command to write');
    first.kill('SIGKILL');
    await firstDone;
    const orphan = readPid(dir, 'appender.pid');
    assert.ok(running(orphan), 'the killed run left its command running (the situation under test)');

    const second = await cli(dir, 'run', 'p.yaml');
    assert.equal(second.code, 0, second.stderr);
    assert.equal(running(orphan), false, "the first run's command was ended before the second ran");
    const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 40, `the out has one command's 40 lines, not a mix: ${lines.join(' ')}`);
    assert.deepEqual(
      lines,
      Array.from({ length: 40 }, (_, i) => `line${i + 1}`),
    );
    const verify = await cli(dir, 'cache', 'verify', 'p.yaml');
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  } finally {
    cleanUp(dir, ['appender.pid']);
  }
});

// A daemon started with setsid leaves the command's process group, so ending the group does not stop it: it
// keeps appending to the out after the command has exited. The out starts at 20 MB so that storing it takes
// tens of milliseconds: long enough for the daemon to be scheduled inside that window on a busy machine.
const DAEMON = `version: 1
stages:
  e:
    type: command
    cmd:
      - sh
      - -c
      - >-
        head -c 20000000 /dev/zero > out/e.txt;
        setsid sh -c 'echo $$ > daemon.pid; while true; do echo x >> out/e.txt; done' </dev/null >/dev/null 2>&1 &
        sleep 0.3
    outs: [out/e.txt]
`;

test('an out still being written after the command exited is not cached, and the stage says why', async () => {
  const dir = makeProject({ 'p.yaml': DAEMON });
  try {
    const result = await cli(dir, 'run', 'p.yaml');
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /the out file out\/e\.txt changed while fer-dag was storing it/);
    const lock = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile;
    assert.deepEqual(lock.stages, {}, 'no result was recorded');
    assert.doesNotMatch(result.stdout + result.stderr, STACK_FRAME);
  } finally {
    cleanUp(dir, ['daemon.pid']);
  }
});

// Stage a finishes at once; b starts a background `sleep` (a grandchild of fer-dag) and then waits itself.
const TWO_STAGES = `version: 1
stages:
  a:
    type: command
    cmd: [sh, -c, "echo a > out/a.txt"]
    outs: [out/a.txt]
  b:
    type: command
    cmd: [sh, -c, "\${params.trap} sleep 300 & echo $! > background.pid; cat out/a.txt > out/b.txt; sleep 300"]
    deps: [out/a.txt]
    outs: [out/b.txt]
    params: { trap: "" }
`;

/** Starts `run` on the two-stage pipeline and resolves once b's background sleep is running. */
async function runUntilStageB(dir: string) {
  const child = startCli(dir, ['run', 'p.yaml']);
  const done = exited(child);
  const started = () => hasText(path.join(dir, 'background.pid')) && hasText(path.join(dir, 'out/b.txt'));
  await waitFor(started, 15_000, 'stage b to start');
  return { child, done, background: readPid(dir, 'background.pid') };
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  const name = `${signal} during a command: exit ${code}, lockfile of the finished stage, lock released, no grandchild`;
  test(name, async () => {
    const dir = makeProject({ 'p.yaml': TWO_STAGES });
    try {
      const { child, done, background } = await runUntilStageB(dir);
      child.kill(signal);
      const result = await done;
      assert.equal(result.code, code, `exit code (signal ${result.signal}); stderr: ${result.stderr}`);
      const lock = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile;
      assert.deepEqual(Object.keys(lock.stages), ['a'], 'the lockfile names the stage that finished, and only it');
      assert.equal(fs.existsSync(lockFile(dir)), false, 'the store lock was released');
      assert.equal(running(background), false, 'the background sleep of stage b was ended');
      assert.doesNotMatch(result.stdout + result.stderr, STACK_FRAME);
      assert.match(result.stdout, /b \(cancelled\)/);
    } finally {
      cleanUp(dir, ['background.pid']);
    }
  });
}

test('a second SIGINT forces the exit while a command ignores SIGTERM', async () => {
  // `trap '' TERM` is inherited by the sleeps: the first SIGINT's SIGTERM does nothing, the grace would run out.
  const dir = makeProject({ 'p.yaml': TWO_STAGES.replace('trap: ""', `trap: "trap '' TERM;"`) });
  try {
    const { child, done, background } = await runUntilStageB(dir);
    child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(running(background), 'SIGTERM alone did not end the command');
    child.kill('SIGINT');
    const result = await done;
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /SIGINT again: stopping now/);
    assert.equal(fs.existsSync(lockFile(dir)), false, 'the forced exit released the store lock');
    await waitFor(() => !running(background), 2000, "the forced exit to kill the command's group");
    assert.doesNotMatch(result.stdout + result.stderr, STACK_FRAME);
  } finally {
    cleanUp(dir, ['background.pid']);
  }
});

test('watch stops on SIGINT with exit 130 and the store lock released', async () => {
  const dir = makeProject({ 'p.yaml': TWO_STAGES });
  try {
    const child = startCli(dir, ['watch', 'p.yaml']);
    const done = exited(child);
    const started = () => hasText(path.join(dir, 'background.pid')) && fs.existsSync(lockFile(dir));
    await waitFor(started, 15_000, 'stage b to start under watch');
    const background = readPid(dir, 'background.pid');
    child.kill('SIGINT');
    const result = await done;
    assert.equal(result.code, 130, `exit code (signal ${result.signal}); stderr: ${result.stderr}`);
    assert.equal(fs.existsSync(lockFile(dir)), false, 'the store lock was released');
    assert.equal(running(background), false, 'the background sleep of stage b was ended');
    const lock = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile;
    assert.deepEqual(Object.keys(lock.stages), ['a']);
    assert.doesNotMatch(result.stdout + result.stderr, STACK_FRAME);
  } finally {
    cleanUp(dir, ['background.pid']);
  }
});
