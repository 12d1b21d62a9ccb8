import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, events, executedStages, startCli, STEP_SCRIPT, THREE_STAGES, writeFiles } from './helpers.js';
import { freePort, hasRedis, startRedis, type TestServer } from './servers.js';
import { startWorker, waitForLine, type WorkerProcess } from './worker-process.js';

describe(
  'stages run on workers through a queue',
  { skip: hasRedis() ? undefined : 'redis-server is not installed' },
  () => {
    let redis: TestServer;
    let remote: string;
    let workers: WorkerProcess[];

    before(async () => {
      redis = await startRedis();
      remote = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-queue-remote-'));
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-worker-home-'));
      workers = [startWorker(home, redis.url, remote), startWorker(home, redis.url, remote)];
      await Promise.all(workers.map((w) => waitForLine(w, (l) => l.type === 'worker-ready')));
    });
    after(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await redis.stop();
    });

    test('a pipeline run through the queue gives the lockfile a local run gives', async () => {
      const files = { 'p.yaml': THREE_STAGES, 'step.mjs': STEP_SCRIPT, 'src.txt': 'queued\n' };
      const local = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-local-'));
      writeFiles(local, files);
      assert.equal((await cli(local, 'run', 'p.yaml')).code, 0);
      const queued = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-queued-'));
      writeFiles(queued, files);
      const run = await cli(queued, 'run', 'p.yaml', '--queue', redis.url, '--remote', remote, '--json');
      assert.equal(run.code, 0, run.stderr + run.stdout.slice(-2000));
      assert.deepEqual(executedStages(run), ['a', 'b', 'c']);
      assert.ok(!fs.existsSync(path.join(queued, 'runs.log')), 'no stage ran in the coordinator');
      const ran = workers.flatMap((w) => w.lines.filter((l) => l.type === 'job-done').map((l) => l.stage));
      assert.deepEqual(ran.sort(), ['a', 'b', 'c']);
      assert.equal(
        fs.readFileSync(path.join(queued, 'p.lock.json'), 'utf8'),
        fs.readFileSync(path.join(local, 'p.lock.json'), 'utf8'),
      );
      assert.equal(fs.readFileSync(path.join(queued, 'out/c.txt'), 'utf8'), 'three:two:one:queued\n');
      assert.ok(events(run).some((e) => e.type === 'stage-done' && e.stage === 'c'));
    });

    test('a queue that cannot be reached is one line naming it, exit 1, and the store is left alone', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-queued-nowhere-'));
      writeFiles(dir, { 'p.yaml': THREE_STAGES, 'step.mjs': STEP_SCRIPT, 'src.txt': 'x\n' });
      const nowhere = `redis://127.0.0.1:${await freePort()}/0`;
      const run = await cli(dir, 'run', 'p.yaml', '--queue', nowhere, '--remote', remote);
      assert.equal(run.code, 1);
      assert.equal(
        run.stderr.trim(),
        `fer-dag: cannot reach the queue at ${nowhere}: connect ECONNREFUSED ${nowhere.slice(8, -2)}`,
      );
      assert.ok(!fs.existsSync(path.join(dir, 'runs.log')), 'nothing ran');
    });

    test("a project's executable script keeps its execute bit on the worker", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-queued-exec-'));
      const spec =
        'version: 1\nstages:\n  shout:\n    type: command\n    cmd: [./shout.sh]\n    deps: [shout.sh]\n    outs: [loud.txt]\n';
      writeFiles(dir, { 'p.yaml': spec, 'shout.sh': '#!/bin/sh\necho HELLO > loud.txt\n' });
      fs.chmodSync(path.join(dir, 'shout.sh'), 0o755);
      const run = await cli(dir, 'run', 'p.yaml', '--queue', redis.url, '--remote', remote);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.equal(fs.readFileSync(path.join(dir, 'loud.txt'), 'utf8'), 'HELLO\n');
    });
  },
);

describe(
  'tags route a stage to the workers that have them',
  { skip: hasRedis() ? undefined : 'redis-server is not installed' },
  () => {
    test('a stage with tags: [gpu] runs only on the worker started with --tags gpu', async () => {
      const redis = await startRedis();
      const remote = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-tags-remote-'));
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-worker-home-'));
      const plain = startWorker(home, redis.url, remote);
      const gpu = startWorker(home, redis.url, remote, '--tags', 'gpu');
      try {
        await Promise.all([plain, gpu].map((w) => waitForLine(w, (l) => l.type === 'worker-ready')));
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-tags-'));
        const spec = THREE_STAGES.replace('  b:\n    type: command\n', '  b:\n    type: command\n    tags: [gpu]\n');
        writeFiles(dir, { 'p.yaml': spec, 'step.mjs': STEP_SCRIPT, 'src.txt': 'tagged\n' });
        const run = await cli(dir, 'run', 'p.yaml', '--queue', redis.url, '--remote', remote, '--json');
        assert.equal(run.code, 0, run.stderr);
        const ranOn = (w: WorkerProcess) => w.lines.filter((l) => l.type === 'job-done').map((l) => String(l.stage));
        assert.ok(ranOn(gpu).includes('b'));
        assert.ok(!ranOn(plain).includes('b'));
        assert.deepEqual([...ranOn(plain), ...ranOn(gpu)].sort(), ['a', 'b', 'c']);
        const local = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-tags-local-'));
        writeFiles(local, { 'p.yaml': THREE_STAGES, 'step.mjs': STEP_SCRIPT, 'src.txt': 'tagged\n' });
        assert.equal((await cli(local, 'run', 'p.yaml')).code, 0);
        assert.equal(readLock(dir), readLock(local), 'tags are not part of any key');
      } finally {
        await Promise.all([plain.stop(), gpu.stop()]);
        await redis.stop();
      }
    });
  },
);

/** THREE_STAGES whose b takes a few seconds, so a test can act while it runs on a worker. */
const SLOW_B = THREE_STAGES.replace('cmd: [node, step.mjs, b,', 'cmd: [node, slow.mjs, b,').replace(
  'deps: [step.mjs, out/a.txt]',
  'deps: [slow.mjs, out/a.txt]',
);
const SLOW_SCRIPT = `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);\n${STEP_SCRIPT}`;

describe(
  'faults of the queue and the coordinator',
  { skip: hasRedis() ? undefined : 'redis-server is not installed' },
  () => {
    const files = { 'p.yaml': SLOW_B, 'step.mjs': STEP_SCRIPT, 'slow.mjs': SLOW_SCRIPT, 'src.txt': 'faults\n' };
    let local: string;
    /** A worker on the queue, ready, and a project whose run goes through it (its own remote). */
    const queuedProject = async (redis: TestServer) => {
      const remote = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-faults-remote-'));
      const worker = startWorker(os.tmpdir(), redis.url, remote);
      await waitForLine(worker, (l) => l.type === 'worker-ready');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-faults-'));
      writeFiles(dir, files);
      return { worker, dir, args: ['run', 'p.yaml', '--queue', redis.url, '--remote', remote, '--json'] };
    };
    before(async () => {
      local = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-faults-local-'));
      writeFiles(local, files);
      assert.equal((await cli(local, 'run', 'p.yaml')).code, 0);
    });

    test('a coordinator killed while a stage runs: run again, it waits for that job, which ran once', async () => {
      const redis = await startRedis();
      const { worker, dir, args } = await queuedProject(redis);
      try {
        const first = startCli(dir, args, process.env);
        await waitForLine(worker, (l) => l.type === 'job-start' && l.stage === 'b');
        first.kill('SIGKILL');
        const again = await cli(dir, ...args);
        assert.equal(again.code, 0, again.stderr);
        const startsOfB = worker.lines.filter((l) => l.type === 'job-start' && l.stage === 'b');
        assert.equal(startsOfB.length, 1, 'the second coordinator waited for the job the first one queued');
        assert.equal(readLock(dir), readLock(local));
      } finally {
        await worker.stop();
        await redis.stop();
      }
    });

    test('Redis restarted during a run: the run fails saying so, records nothing wrong, and a rerun finishes', async () => {
      let redis = await startRedis();
      const { worker, dir, args } = await queuedProject(redis);
      try {
        const running = cli(dir, ...args);
        await waitForLine(worker, (l) => l.type === 'job-start' && l.stage === 'b');
        await redis.stop();
        redis = await startRedis((redis as TestServer & { port: number }).port);
        const failed = await running;
        assert.equal(failed.code, 1);
        assert.match(failed.stdout, /the queue at redis:\/\/127\.0\.0\.1:\d+\/0 went away during the run; run again/);
        assert.doesNotMatch(failed.stdout + failed.stderr, /\n\s+at /, 'no stack trace');
        const partial = JSON.parse(readLock(dir)) as { stages: Record<string, { key: string }> };
        const complete = JSON.parse(readLock(local)) as { stages: Record<string, { key: string }> };
        for (const [stage, entry] of Object.entries(partial.stages))
          assert.equal(entry.key, complete.stages[stage]!.key);
        const again = await cli(dir, ...args);
        assert.equal(again.code, 0, again.stderr + again.stdout.slice(-2000));
        assert.equal(readLock(dir), readLock(local));
      } finally {
        await worker.stop();
        await redis.stop();
      }
    });
  },
);

function readLock(dir: string): string {
  return fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8');
}
