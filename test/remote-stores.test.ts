import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../cache/hash.js';
import { blobPath, recordPath, type RemoteBackend } from '../remote/backend.js';
import { loadRemoteConfig, openRemote } from '../remote/config.js';
import { cliWithEnv, events, executedStages, STEP_SCRIPT, takeRuns, THREE_STAGES, writeFiles } from './helpers.js';
import { freePort, hasNginx, startNginx, startS3, type TestServer } from './servers.js';

interface Kind {
  name: string;
  skip?: string;
  /** The remote's settings in fer-dag.config.yaml, and the variables a user would set for it. */
  start(): Promise<{ settings: string; env: NodeJS.ProcessEnv; server?: TestServer }>;
}

const KINDS: Kind[] = [
  {
    name: 'a folder (a shared mount)',
    start: async () => ({ settings: `{ url: ${fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-remote-'))} }`, env: {} }),
  },
  {
    name: "nginx's WebDAV PUT (the HTTP remote)",
    skip: hasNginx() ? undefined : 'nginx is not installed (.ci/run installs it)',
    start: async () => {
      const server = await startNginx();
      return { settings: `{ url: '${server.url}/team' }`, env: {}, server };
    },
  },
  {
    name: 'an S3 API (s3rver)',
    start: async () => {
      const server = await startS3('fer-lab');
      return {
        settings: `{ url: 's3://fer-lab/team', endpoint: '${server.url}', pathStyle: true }`,
        ...server,
        server,
      };
    },
  },
];

/** A project of the three command stages with the remote as its default; its own folder, its own store. */
function project(settings: string, extra: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-remote-project-'));
  writeFiles(dir, {
    'p.yaml': THREE_STAGES,
    'step.mjs': STEP_SCRIPT,
    'src.txt': 'hello\n',
    'fer-dag.config.yaml': `# where this group shares results\nremotes:\n  team: ${settings}\ndefault: team\n`,
    ...extra,
  });
  return dir;
}

/** A fresh clone of `dir`: what git would carry (spec, scripts, data, lockfile, config), no store, no outs. */
function clone(dir: string): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-remote-clone-'));
  for (const file of ['p.yaml', 'step.mjs', 'src.txt', 'p.lock.json', 'fer-dag.config.yaml']) {
    fs.copyFileSync(path.join(dir, file), path.join(copy, file));
  }
  return copy;
}

for (const kind of KINDS) {
  describe(`a remote on ${kind.name}`, { skip: kind.skip }, () => {
    let settings: string;
    let env: NodeJS.ProcessEnv;
    let server: TestServer | undefined;
    let remote: RemoteBackend;
    const run = (dir: string, ...args: string[]) => cliWithEnv({ ...process.env, ...env }, dir, ...args);

    before(async () => {
      ({ settings, env, server } = await kind.start());
      Object.assign(process.env, env);
      remote = openRemote(loadRemoteConfig(project(settings)), 'team');
    });
    after(async () => {
      await remote.close();
      await server?.stop();
    });

    test('holds objects by path; a record is written once and the first writer wins', async () => {
      const hash = sha256('bytes');
      assert.equal(await remote.has(blobPath(hash)), false);
      assert.equal(await remote.get(blobPath(hash)), undefined);
      await remote.put(blobPath(hash), Buffer.from('bytes'));
      assert.equal(await remote.has(blobPath(hash)), true);
      assert.equal((await remote.get(blobPath(hash)))!.toString(), 'bytes');
      assert.equal(await remote.putNew(recordPath(hash), Buffer.from('first')), 'written');
      assert.equal(await remote.putNew(recordPath(hash), Buffer.from('second')), 'exists');
      assert.equal((await remote.get(recordPath(hash)))!.toString(), 'first');
    });

    test('a clone pulls what was pushed: every stage fresh, and run executes nothing', async () => {
      const a = project(settings);
      assert.equal((await run(a, 'run', 'p.yaml')).code, 0);
      takeRuns(a);
      const pushed = await run(a, 'push', 'p.yaml');
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.match(pushed.stdout, /3 results written, 0 already there/);
      assert.match((await run(a, 'push', 'p.yaml')).stdout, /0 results written, 3 already there/);

      const b = clone(a);
      const pulled = await run(b, 'pull', 'p.yaml');
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.match(pulled.stdout, /3 results pulled, 0 already here/);
      const status = await run(b, 'status', 'p.yaml');
      assert.deepEqual(
        status.stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => line.split(/\s+/).slice(0, 2).join(' ')),
        ['a fresh', 'b fresh', 'c fresh'],
      );
      const again = await run(b, 'run', 'p.yaml', '--json');
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(executedStages(again), []);
      assert.deepEqual(takeRuns(b), []);
      assert.equal(fs.readFileSync(path.join(b, 'out/c.txt'), 'utf8'), 'three:two:one:hello\n');
      assert.equal(
        fs.readFileSync(path.join(b, 'p.lock.json'), 'utf8'),
        fs.readFileSync(path.join(a, 'p.lock.json'), 'utf8'),
      );
    });

    test('run --pull with an empty store downloads each result instead of computing it', async () => {
      const a = project(settings, { 'src.txt': 'pulled instead\n' });
      assert.equal((await run(a, 'run', 'p.yaml')).code, 0);
      assert.equal((await run(a, 'push', 'p.yaml')).code, 0);
      const c = clone(a);
      fs.rmSync(path.join(c, 'p.lock.json'));
      const status = await run(c, 'status', 'p.yaml', '--remote');
      assert.match(status.stdout, /^a\s+fresh \(in remote team/m);
      assert.match(status.stdout, /^c\s+fresh \(in remote team/m);
      const pulled = await run(c, 'run', 'p.yaml', '--pull', '--json');
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(executedStages(pulled), []);
      assert.deepEqual(takeRuns(c), []);
      const fresh = events(pulled).filter((e) => e.type === 'stage-fresh');
      assert.deepEqual(
        fresh.map((e) => [e.stage, String(e.pulled).startsWith('team')]),
        [
          ['a', true],
          ['b', true],
          ['c', true],
        ],
      );
      assert.equal(fs.readFileSync(path.join(c, 'out/c.txt'), 'utf8'), 'three:two:one:pulled instead\n');
    });

    test('a corrupt blob in the remote is refused by its hash and nothing of that stage is recorded', async () => {
      const a = project(settings, { 'src.txt': 'to be damaged\n' });
      assert.equal((await run(a, 'run', 'p.yaml', '--stage', 'a')).code, 0);
      assert.equal((await run(a, 'push', 'p.yaml')).code, 0);
      const lock = JSON.parse(fs.readFileSync(path.join(a, 'p.lock.json'), 'utf8')) as {
        stages: Record<string, { outputs: { files: Record<string, { hash: string }> } }>;
      };
      const out = lock.stages.a!.outputs.files['out/a.txt']!.hash;
      await remote.put(blobPath(out), Buffer.from('not what was pushed'));
      const b = clone(a);
      const pulled = await run(b, 'pull', 'p.yaml');
      assert.equal(pulled.code, 1);
      assert.match(pulled.stderr, new RegExp(`blob ${out.slice(0, 12)}… of stage a is corrupt there.*it was not used`));
      assert.doesNotMatch(pulled.stderr, /\n\s+at /, 'no stack trace');
      assert.match((await run(b, 'status', 'p.yaml')).stdout, /^a\s+stale/m);
      await remote.put(blobPath(out), Buffer.from('one:to be damaged\n'));
    });
  });
}

describe('remote configuration', () => {
  test('credentials in the config file are refused with the line and where they belong', async () => {
    const dir = project('{ url: s3://bucket/x, secretAccessKey: abc }');
    const result = await cliWithEnv(process.env, dir, 'push', 'p.yaml');
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /fer-dag\.config\.yaml:3:\d+.*credentials never go in a fer-dag config file.*AWS_ACCESS_KEY_ID/,
    );
  });

  test('an unknown remote name says which are configured; a local override wins', async () => {
    const dir = project('{ url: ./shared }', { 'fer-dag.config.local.yaml': 'remotes:\n  team: { url: ./mine }\n' });
    const result = await cliWithEnv(process.env, dir, 'push', 'p.yaml', '--remote', 'tema');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--remote tema: no remote of that name \(configured: team\)/);
    assert.equal(loadRemoteConfig(dir).remotes.team!.url, path.join(fs.realpathSync(dir), 'mine'));
  });

  test('run --pull against a remote that cannot be reached computes the stages and says why', async () => {
    const dir = project(`{ url: 'http://127.0.0.1:${await freePort()}/nothing' }`); // nothing listens there
    const result = await cliWithEnv(process.env, dir, 'run', 'p.yaml', '--pull', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(executedStages(result), ['a', 'b', 'c']);
    const logs = events(result)
      .filter((e) => e.type === 'stage-log')
      .map((e) => String(e.message));
    assert.match(logs[0]!, /not pulled, computed here: remote team .*ECONNREFUSED/);
  });

  test('remote add writes the config file, keeping its comments, and remote list shows the default', async () => {
    const dir = project('{ url: ./shared }');
    fs.mkdirSync(path.join(dir, '.git'));
    const added = await cliWithEnv(process.env, dir, 'remote', 'add', 'nas', '/mnt/nas/fer', '--default');
    assert.equal(added.code, 0, added.stderr);
    const text = fs.readFileSync(path.join(dir, 'fer-dag.config.yaml'), 'utf8');
    assert.match(text, /^# where this group shares results/);
    const listed = await cliWithEnv(process.env, dir, 'remote', 'list');
    assert.match(listed.stdout, /^nas\t\/mnt\/nas\/fer \(default\)$/m);
    assert.match(listed.stdout, /^team\t/m);
  });
});
