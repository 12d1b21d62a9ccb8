// Benchmark: agr over a few thousand generated images through two `fer-dag worker`s (BullMQ on a real Redis,
// a folder remote) against the same stage run locally, in the same script, alternating rounds. On one machine
// there is no second machine to gain from: the ratio says what the queue and the remote cost (want ≥ 0.9).
// Also the per-job overhead: a chain of trivial command stages through the queue against locally.
// Usage: npm run bench:distributed   (BENCH_DISTRIBUTED_IMAGES=2000, 3 rounds; about 10 minutes on 2 cores)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = path.resolve(here, '..', '..');
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const work = path.join(repoRoot, 'bench', '.work', 'distributed');
const IMAGES = Number(process.env.BENCH_DISTRIBUTED_IMAGES ?? 2000);
const ROUNDS = Number(process.env.BENCH_DISTRIBUTED_ROUNDS ?? 3);
// Default: one shard per connected worker, as run --queue chooses.
const SHARDS = process.env.BENCH_DISTRIBUTED_SHARDS;
const CHAIN = 8;

const agrPipeline = (seed: number, perClass: number) => `version: 1
seed: ${seed}
stages:
  faces: { type: generate-faces, params: { style: fer2013, perClass: ${perClass} } }
  merge: { type: merge, inputs: [faces] }
  agr: { type: agr, input: merge, params: { attributes: predict } }
`;

const chainPipeline = (seed: number) =>
  `version: 1\nseed: ${seed}\nstages:\n` +
  Array.from({ length: CHAIN }, (_, i) => {
    const input = i ? `, deps: [s${i - 1}.txt]` : '';
    const write = `require('fs').writeFileSync('s${i}.txt', 'step ${i} ' + process.env.FER_DAG_SEED)`;
    return `  s${i}: { type: command, cmd: [node, -e, "${write}"], outs: [s${i}.txt]${input} }\n`;
  }).join('');

function redisServer(): string {
  if (spawnSync('redis-server', ['--version']).status === 0) return 'redis-server';
  if (fs.existsSync('/usr/bin/redis-server')) return '/usr/bin/redis-server';
  if (process.getuid?.() !== 0) throw new Error('redis-server is missing: sudo apt-get install redis-server');
  console.log('installing Debian redis-server …');
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'inherit' });
  return '/usr/bin/redis-server';
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs the CLI, timing each event by when its line arrived: returns the stages' start and done times (ms). */
function timedRun(cwd: string, args: string[]): Promise<{ code: number; spans: Map<string, [number, number]> }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args, '--json'], { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    const spans = new Map<string, [number, number]>();
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const now = performance.now();
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const event = JSON.parse(line) as { type: string; stage?: string };
        if (event.type === 'stage-start') spans.set(event.stage!, [now, now]);
        if (event.type === 'stage-done') spans.get(event.stage!)![1] = now;
        if (event.type === 'run-start') spans.set('(run)', [now, now]);
        if (event.type === 'run-done') spans.get('(run)')![1] = now;
      }
    });
    child.on('close', (code) => resolve({ code: code ?? 1, spans }));
  });
}

function project(name: string, files: Record<string, string>): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text);
  return dir;
}

const seconds = (span: [number, number] | undefined) => (span ? (span[1] - span[0]) / 1000 : NaN);
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function main(): Promise<void> {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const port = await freePort();
  const redis = spawn(
    redisServer(),
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      cwd: work,
      stdio: 'ignore',
    },
  );
  const queue = `redis://127.0.0.1:${port}/0`;
  const remote = path.join(work, 'remote');
  const workers: ChildProcess[] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const i of [0, 1]) {
      const args = [cli, 'worker', '--queue', queue, '--remote', remote, '--dir', path.join(work, `worker-${i}`)];
      const log = fs.openSync(path.join(work, `worker-${i}.log`), 'w');
      workers.push(spawn(process.execPath, args, { cwd: work, stdio: ['ignore', log, log] }));
    }
    const perClass = Math.ceil(IMAGES / 7);
    const local = project('local', {});
    const queued = project('queued', {});
    const runAgr = async (dir: string, file: string, viaQueue: boolean) => {
      const shards = SHARDS ? ['--shards', SHARDS] : [];
      const args = ['run', file, ...(viaQueue ? ['--queue', queue, '--remote', remote, ...shards] : [])];
      const run = await timedRun(dir, args);
      if (run.code !== 0) throw new Error(`${dir}: fer-dag ${args.join(' ')} failed`);
      return seconds(run.spans.get('agr'));
    };
    // Warm-up: the model conversions each store memoises, and the workers' processes, as a long-lived
    // setup has them. The measured rounds use other seeds, so no image of theirs is memoised anywhere.
    fs.writeFileSync(path.join(local, 'warm.yaml'), agrPipeline(1000, 4));
    fs.writeFileSync(path.join(queued, 'warm.yaml'), agrPipeline(1000, 4));
    await runAgr(local, 'warm.yaml', false);
    await runAgr(queued, 'warm.yaml', true);

    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const file = `round-${round}.yaml`;
      fs.writeFileSync(path.join(local, file), agrPipeline(round + 1, perClass));
      fs.writeFileSync(path.join(queued, file), agrPipeline(round + 1, perClass));
      const order = round % 2 ? (['queued', 'local'] as const) : (['local', 'queued'] as const);
      const times: Record<string, number> = {};
      for (const which of order)
        times[which] = await runAgr(which === 'local' ? local : queued, file, which === 'queued');
      const ratio = times.local! / times.queued!;
      ratios.push(ratio);
      console.log(
        `round ${round + 1}: agr over ${perClass * 7} images: local ${times.local!.toFixed(1)} s, ` +
          `2 workers, ${SHARDS ?? 'one shard each'}: ${times.queued!.toFixed(1)} s (${ratio.toFixed(3)})`,
      );
    }

    // Per-job overhead: the same trivial stages, run here and through the queue (workers warm).
    const chainLocal = project('chain-local', { 'p.yaml': chainPipeline(7) });
    const chainQueued = project('chain-queued', { 'p.yaml': chainPipeline(7) });
    const here = await timedRun(chainLocal, ['run', 'p.yaml', '--jobs', '1']);
    const there = await timedRun(chainQueued, ['run', 'p.yaml', '--jobs', '1', '--queue', queue, '--remote', remote]);
    const overheadMs = ((seconds(there.spans.get('(run)')) - seconds(here.spans.get('(run)'))) * 1000) / CHAIN;
    console.log(
      `${CHAIN} chained command stages: local ${seconds(here.spans.get('(run)')).toFixed(2)} s, ` +
        `queued ${seconds(there.spans.get('(run)')).toFixed(2)} s`,
    );
    console.log(`distributed_vs_local: ${median(ratios).toFixed(3)}`);
    console.log(`per_job_overhead_ms: ${overheadMs.toFixed(0)}`);
  } finally {
    for (const worker of workers) worker.kill('SIGTERM');
    redis.kill('SIGTERM');
  }
}

await main();
