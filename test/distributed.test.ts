import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, events, executedStages, startCli, STEP_SCRIPT, THREE_STAGES, writeFiles } from './helpers.js';
import { hasRedis, startRedis, stopChild, type TestServer } from './servers.js';
import { reducedDemo } from './reduced-demo.js';

/** A `fer-dag worker` process and the NDJSON lines it printed so far. */
interface WorkerProcess {
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
  },
);

describe('the reduced demo on two workers', { skip: hasRedis() ? undefined : 'redis-server is not installed' }, () => {
  let redis: TestServer;
  let local: string;
  const started: WorkerProcess[] = [];
  const project = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-demo-queued-'));
    writeFiles(dir, { 'p.yaml': reducedDemo() });
    return dir;
  };
  // Each test has its own workers (stopped at its end) and its own remote; the queue is shared.
  const twoWorkers = async (remote: string, lockSeconds: number) => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-worker-home-'));
    const pair = [0, 1].map(() => startWorker(home, redis.url, remote, '--lock-seconds', String(lockSeconds)));
    started.push(...pair);
    await Promise.all(pair.map((w) => waitForLine(w, (l) => l.type === 'worker-ready')));
    return pair;
  };

  before(async () => {
    redis = await startRedis();
    local = project();
    const run = await cli(local, 'run', 'p.yaml');
    assert.equal(run.code, 0, run.stderr.slice(-3000));
  });
  after(async () => {
    await Promise.all(started.map((w) => w.stop()));
    await redis.stop();
  });

  test('run --queue gives the local lockfile byte for byte, agr split into shard jobs', async () => {
    const remote = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-demo-remote-'));
    const workers = await twoWorkers(remote, 30);
    const dir = project();
    const run = await cli(dir, 'run', 'p.yaml', '--queue', redis.url, '--remote', remote, '--shards', '3', '--json');
    assert.equal(run.code, 0, run.stderr.slice(-3000) + run.stdout.slice(-3000));
    assert.equal(executedStages(run).length, 17);
    const done = workers.flatMap((w) => w.lines.filter((l) => l.type === 'job-done'));
    assert.equal(done.filter((l) => l.kind === 'shard' && l.stage === 'agr').length, 3);
    assert.ok(
      workers.every((w) => w.lines.some((l) => l.type === 'job-done')),
      'both workers took jobs',
    );
    assert.equal(readLock(dir), readLock(local));
    await Promise.all(workers.map((w) => w.stop()));
  });

  test('a worker killed in the middle of an agr shard: the shard runs again once, the lockfile is the same', async () => {
    const remote = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-demo-remote-'));
    // A short lock, so the killed worker's shard goes to the other one within seconds.
    const workers = await twoWorkers(remote, 8);
    const dir = project();
    const running = cli(dir, 'run', 'p.yaml', '--queue', redis.url, '--remote', remote, '--shards', '3', '--json');
    const isAgrShard = (l: Record<string, unknown>) =>
      l.type === 'job-start' && l.kind === 'shard' && l.stage === 'agr';
    const victim = await Promise.race(workers.map((w) => waitForLine(w, isAgrShard, 180_000).then(() => w)));
    const killed = victim.lines.find(isAgrShard)!;
    victim.child.kill('SIGKILL');
    const run = await running;
    assert.equal(run.code, 0, run.stderr.slice(-3000) + run.stdout.slice(-3000));
    const lines = workers.flatMap((w) => w.lines);
    const starts = lines.filter((l) => l.type === 'job-start' && l.id === killed.id);
    const dones = lines.filter((l) => l.type === 'job-done' && l.id === killed.id);
    assert.equal(starts.length, 2, 'started on the killed worker, then once more');
    assert.equal(dones.length, 1);
    assert.equal(readLock(dir), readLock(local));
  });
});

function readLock(dir: string): string {
  return fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8');
}
