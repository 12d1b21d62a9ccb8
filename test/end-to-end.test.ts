import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { Store } from '../cache/store.js';
import type { Lockfile } from '../engine/lockfile.js';
import { builtInRegistry } from '../stages/registry.js';
import { cli, events, executedStages, makeProject } from './helpers.js';
import { hasNginx, hasRedis, startNginx, startRedis } from './servers.js';
import { startWorker, waitForLine } from './worker-process.js';
import { reducedDemo as pipeline } from './reduced-demo.js';

const ALL_STAGES = [
  'fer2013',
  'nhfi',
  'affectnet',
  'merge',
  'quality',
  'reclassify',
  'agr',
  'distribute',
  'evaluator',
  'artificial',
  'train-fer2013',
  'train-nhfi',
  'train-affectnet',
  'train-artificial',
  'train-merged',
  'cross',
  'report',
  'card',
];
const sorted = (names: string[]) => [...names].sort();

function lockfile(dir: string): Lockfile {
  return JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile;
}

describe('the reduced demo, end to end', () => {
  let dir: string;

  before(async () => {
    dir = makeProject({ 'p.yaml': pipeline() });
    const run = await cli(dir, 'run', 'p.yaml', '--json');
    assert.equal(run.code, 0, run.stderr.slice(-3000));
    assert.deepEqual(sorted(executedStages(run)), sorted(ALL_STAGES));
  });

  test('every stage type runs in it, and a second run executes nothing and says where the report is', async () => {
    const types = new Set(Object.values(lockfile(dir).stages).map((s) => s.type));
    for (const type of builtInRegistry.types())
      assert.ok(types.has(type), `stage type ${type} is not in the end-to-end pipeline`);
    const again = await cli(dir, 'run', 'p.yaml');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr + again.stdout, /nothing to do: all 18 stages are fresh/);
    const html = /report: (\S+report\.html)/.exec(again.stdout)?.[1];
    assert.ok(html && fs.existsSync(path.join(dir, html)), `run prints where the report is: ${again.stdout}`);
    assert.match(fs.readFileSync(path.join(dir, html), 'utf8'), /train-artificial/);
  });

  test(
    'a second project run from scratch with the same seed audits as the same run',
    // The queue test below runs the same project from scratch on two workers and audits it: one full run fewer.
    { skip: hasRedis() ? 'the queue test runs it (on two workers) and audits it' : undefined },
    async () => {
      const other = makeProject({ 'p.yaml': pipeline() });
      const run = await cli(other, 'run', 'p.yaml');
      assert.equal(run.code, 0, run.stderr.slice(-3000));
      const audit = await cli(dir, 'audit', 'p.lock.json', path.join(other, 'p.lock.json'));
      assert.equal(audit.code, 0, audit.stdout + audit.stderr);
      assert.match(audit.stdout, /no differences \(\d+ compared\)/);
    },
  );

  test(
    'pushed to an HTTP remote, a fresh clone pulls it all, and run --pull on an empty store computes nothing',
    {
      skip: hasNginx() ? undefined : 'nginx is not installed (.ci/run installs it)',
    },
    async () => {
      const nginx = await startNginx();
      try {
        const config = `remotes:\n  lab: { url: '${nginx.url}/fer' }\ndefault: lab\n`;
        fs.writeFileSync(path.join(dir, 'fer-dag.config.yaml'), config);
        const pushed = await cli(dir, 'push', 'p.yaml');
        assert.equal(pushed.code, 0, pushed.stderr);
        assert.match(pushed.stdout, /18 results written/);

        const b = makeProject({ 'p.yaml': pipeline(), 'fer-dag.config.yaml': config });
        fs.copyFileSync(path.join(dir, 'p.lock.json'), path.join(b, 'p.lock.json'));
        const pulled = await cli(b, 'pull', 'p.yaml', '--json');
        assert.equal(pulled.code, 0, pulled.stderr);
        const summary = events(pulled).find((e) => e.type === 'transfer-done')!;
        assert.equal(Object.values(summary.outcomes as object).filter((o) => o === 'pulled').length, 18);
        assert.ok((summary.memoEntries as number) > 0, 'the memo entries of agr and reclassify come along');
        const status = await cli(b, 'status', 'p.yaml', '--json');
        const states = (JSON.parse(status.stdout) as { stages: { state: string }[] }).stages.map((s) => s.state);
        assert.deepEqual(new Set(states), new Set(['fresh']));
        const run = await cli(b, 'run', 'p.yaml', '--json');
        assert.deepEqual(executedStages(run), []);

        const c = makeProject({ 'p.yaml': pipeline(), 'fer-dag.config.yaml': config });
        const fromRemote = await cli(c, 'run', 'p.yaml', '--pull', '--json');
        assert.equal(fromRemote.code, 0, fromRemote.stderr.slice(-3000));
        assert.deepEqual(executedStages(fromRemote), []);
        const pulledStages = events(fromRemote).filter((e) => e.type === 'stage-fresh' && e.pulled);
        assert.equal(pulledStages.length, 18);
        const audit = await cli(dir, 'audit', 'p.lock.json', path.join(c, 'p.lock.json'));
        assert.match(audit.stdout, /no differences/);
      } finally {
        fs.rmSync(path.join(dir, 'fer-dag.config.yaml'), { force: true });
        await nginx.stop();
      }
    },
  );

  test(
    'through a queue on two workers, one killed mid-shard, a project from scratch gives the local lockfile byte for byte',
    {
      skip: hasRedis() ? undefined : 'redis-server is not installed (.ci/run installs it)',
    },
    async () => {
      const redis = await startRedis();
      const remote = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-demo-remote-'));
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-worker-home-'));
      // A short lock, so the killed worker's shard goes to the other one within seconds.
      const workers = [0, 1].map(() => startWorker(home, redis.url, remote, '--lock-seconds', '10'));
      try {
        await Promise.all(workers.map((w) => waitForLine(w, (l) => l.type === 'worker-ready')));
        const queued = makeProject({ 'p.yaml': pipeline() });
        const args = ['run', 'p.yaml', '--queue', redis.url, '--remote', remote, '--shards', '3', '--json'];
        const running = cli(queued, ...args);
        const isAgrShard = (l: Record<string, unknown>) =>
          l.type === 'job-start' && l.kind === 'shard' && l.stage === 'agr';
        const victim = await Promise.race(workers.map((w) => waitForLine(w, isAgrShard, 300_000).then(() => w)));
        const killed = victim.lines.find(isAgrShard)!;
        victim.child.kill('SIGKILL');
        const run = await running;
        assert.equal(run.code, 0, run.stderr.slice(-3000) + run.stdout.slice(-3000));
        assert.equal(executedStages(run).length, 18);
        assert.equal(
          fs.readFileSync(path.join(queued, 'p.lock.json'), 'utf8'),
          fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8'),
        );
        const audit = await cli(dir, 'audit', 'p.lock.json', path.join(queued, 'p.lock.json'));
        assert.equal(audit.code, 0, audit.stdout + audit.stderr);
        assert.match(audit.stdout, /no differences \(\d+ compared\)/);

        const lines = workers.flatMap((w) => w.lines);
        const of = (type: string, id: unknown) => lines.filter((l) => l.type === type && l.id === id).length;
        assert.equal(of('job-start', killed.id), 2, 'the killed shard started on the killed worker, then once more');
        assert.equal(of('job-done', killed.id), 1);
        const shardsDone = (stage: string) =>
          new Set(
            lines.filter((l) => l.type === 'job-done' && l.kind === 'shard' && l.stage === stage).map((l) => l.id),
          ).size;
        assert.equal(shardsDone('agr'), 3);
        assert.equal(shardsDone('cross'), 3);
        assert.equal(shardsDone('train-nhfi'), 3, "a transfer model's backbone features are sharded");
        assert.equal(shardsDone('train-fer2013'), 0, 'a full CNN is one job');
        const relayed = events(run).filter((e) => e.type === 'stage-progress' && e.stage === 'reclassify');
        assert.ok(relayed.length > 0, "the workers' progress reaches the coordinator's events");
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
        await redis.stop();
      }
    },
  );

  test('a failed warning check lets the run go on and the report shows it; as an error it stops the trainings', async () => {
    const report = lockfile(dir).stages.report!;
    const store = new Store(path.join(dir, '.fer-dag'));
    const page = store.readBlob(store.getRecord(report.key as never)!.outputs['report.html']!.hash).toString();
    store.close();
    assert.match(page, /maxDuplicatePairs/, 'the report lists the quality check');
    assert.match(page, /warning/i);

    fs.writeFileSync(path.join(dir, 'p.yaml'), pipeline({ gate: 'error' }));
    const gated = await cli(dir, 'run', 'p.yaml');
    assert.equal(gated.code, 1, gated.stdout + gated.stderr);
    assert.match(
      gated.stdout + gated.stderr,
      /quality.*check maxDuplicatePairs failed: duplicatePairs is \d+, more than 0/,
    );
    assert.doesNotMatch(gated.stdout + gated.stderr, /\n\s+at /, 'no stack trace');
    const status = await cli(dir, 'status', 'p.yaml');
    assert.match(status.stdout, /quality.*gate failed/);
    assert.match(status.stdout, /train-merged.*blocked/);
    const json = await cli(dir, 'run', 'p.yaml', '--json');
    assert.equal(json.code, 1);
    assert.deepEqual(executedStages(json), [], 'changing a check recomputes nothing');
    const skipped = events(json)
      .filter((e) => e.type === 'stage-skipped')
      .map((e) => e.stage as string);
    for (const stage of ['reclassify', 'train-fer2013', 'train-merged', 'cross', 'report'])
      assert.ok(skipped.includes(stage), stage);
    fs.writeFileSync(path.join(dir, 'p.yaml'), pipeline());
  });

  test('changing a train param reruns only that train stage and what reads its model', async () => {
    fs.writeFileSync(path.join(dir, 'p.yaml'), pipeline({ nhfiEpochs: 3 }));
    const run = await cli(dir, 'run', 'p.yaml', '--json');
    assert.equal(run.code, 0, run.stderr.slice(-3000));
    assert.deepEqual(sorted(executedStages(run)), ['cross', 'report', 'train-nhfi']);
  });

  test('a fourth source reruns merge and everything downstream of it, and agr predicts only the new images', async () => {
    const before = lockfile(dir);
    fs.writeFileSync(path.join(dir, 'p.yaml'), pipeline({ fourth: true, nhfiEpochs: 3 }));
    const run = await cli(dir, 'run', 'p.yaml', '--json');
    assert.equal(run.code, 0, run.stderr.slice(-3000));
    assert.deepEqual(
      sorted(executedStages(run)),
      sorted([
        'fer2013-more',
        'merge',
        'quality',
        'reclassify',
        'agr',
        'distribute',
        'evaluator',
        'train-fer2013',
        'train-nhfi',
        'train-affectnet',
        'train-merged',
        'cross',
        'report',
      ]),
    );
    const store = new Store(path.join(dir, '.fer-dag'));
    const agr = store.getRecord(lockfile(dir).stages.agr!.key as never)!;
    const metrics = agr.metrics as { imagesPredicted: number; predictionsMemoised: number };
    const lines = store
      .readBlob(agr.outputs['manifest.jsonl']!.hash)
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { source: string });
    const added = lines.filter((r) => r.source === 'fer2013-more').length;
    const previous = (store.getRecord(before.stages.agr!.key as never)!.metrics as { imagesPredicted: number })
      .imagesPredicted;
    store.close();
    assert.ok(added > 0);
    assert.equal(metrics.imagesPredicted, added, "only the new source's images went through the attribute models");
    assert.equal(metrics.predictionsMemoised, previous, 'every earlier image came from the memo');
    const quality = (key: string) => {
      const s = new Store(path.join(dir, '.fer-dag'));
      const m = s.getRecord(key as never)!.metrics as Record<
        'signaturesComputed' | 'signaturesMemoised' | 'embeddingsComputed',
        number
      >;
      s.close();
      return m;
    };
    const signatures = quality(lockfile(dir).stages.quality!.key);
    const earlier = quality(before.stages.quality!.key);
    assert.equal(signatures.signaturesComputed, added, "quality hashed and embedded only the new source's images");
    assert.equal(signatures.signaturesMemoised, earlier.signaturesComputed + earlier.signaturesMemoised);
    assert.equal(signatures.embeddingsComputed, added, 'and embedded only those');
  });
});
