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
  STEP_SCRIPT,
  takeRuns,
  THREE_STAGES,
  threeStageProject,
  waitFor,
  writeFiles,
} from './helpers.js';
import { imageBytes } from './image-fixtures.js';

// Issue 17, items 5 (gc keeps what every root of the store needs), 6 (the store checks what it reads) and
// 10 (records are durable only after their blobs). Each test reproduces a failure of the store before.

const lockOf = (dir: string, name = 'p.lock.json') => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
const storeOf = (dir: string) => new Store(path.join(dir, '.fer-dag'));
const outBlob = (dir: string, stage: string, rel: string): string => lockOf(dir).stages[stage].outputs.files[rel].hash;

/** Replaces a blob's bytes as bit rot or a stray write through a hard link would. */
function damageBlob(store: Store, hash: string, bytes = 'bit rot'): void {
  fs.chmodSync(store.blobPath(hash), 0o644);
  fs.writeFileSync(store.blobPath(hash), bytes);
}

test('cache gc --wait queued behind a run keeps what that run produced', async () => {
  const dir = makeProject({ 'p.yaml': SLOW_STAGE, 'slow.mjs': SLOW_SCRIPT });
  const run = startCli(dir, ['run', 'p.yaml']);
  const runDone = new Promise((resolve) => run.on('close', resolve));
  await waitFor(() => fs.existsSync(path.join(dir, 'started')), 10_000, 'the run to start its stage');
  const gc = startCli(dir, ['cache', 'gc', 'p.yaml', '--wait', '60']);
  let gcOut = '';
  gc.stdout!.on('data', (d) => (gcOut += d));
  const gcDone = new Promise((resolve) => gc.on('close', resolve));
  // Long enough for gc to start, load the pipeline and queue on the lock (it read the lockfiles here before).
  await new Promise((resolve) => setTimeout(resolve, 2000));
  fs.writeFileSync(path.join(dir, 'release'), '');
  assert.equal(await runDone, 0);
  assert.equal(await gcDone, 0, gcOut);

  const again = await cli(dir, 'run', 'p.yaml');
  assert.match(again.stdout, /nothing to do/);
  assert.deepEqual(takeRuns(dir), ['slow']);
  assert.match(gcOut, /removed 0 stage results/);
});

test("two pipelines sharing one store keep each other's results through gc; a deleted one is reported", async () => {
  const root = makeProject();
  const shared = THREE_STAGES.replace('seed: 3\n', 'seed: 3\nstore: ../S\n');
  for (const name of ['A', 'B']) {
    // Different sources, so the two pipelines' results are different records in the one store.
    writeFiles(path.join(root, name), { 'p.yaml': shared, 'step.mjs': STEP_SCRIPT, 'src.txt': `hello from ${name}\n` });
    assert.equal((await cli(path.join(root, name), 'run', 'p.yaml')).code, 0);
    takeRuns(path.join(root, name));
  }
  const store = new Store(path.join(root, 'S'));
  assert.equal(store.listRecordKeys().length, 6);

  const gcA = await cli(path.join(root, 'A'), 'cache', 'gc', 'p.yaml');
  assert.equal(gcA.code, 0, gcA.stderr);
  assert.match(gcA.stdout, /roots: 2 lockfiles use this store/);
  assert.match(gcA.stdout, /removed 0 stage results/);
  const fromB = await cli(path.join(root, 'B'), 'run', 'p.yaml');
  assert.match(fromB.stdout, /nothing to do/);
  assert.deepEqual(takeRuns(path.join(root, 'B')), []);

  // B's folder is deleted: gc says so and keeps its results until told to forget them.
  fs.rmSync(path.join(root, 'B'), { recursive: true });
  const kept = await cli(path.join(root, 'A'), 'cache', 'gc', 'p.yaml');
  assert.match(kept.stdout, /missing {2}.*B.p\.lock\.json .*its 3 results are kept; pass --forget-missing/);
  assert.equal(store.listRecordKeys().length, 6);
  const forgot = await cli(path.join(root, 'A'), 'cache', 'gc', 'p.yaml', '--forget-missing');
  assert.match(forgot.stdout, /forgot .*B.p\.lock\.json \(3 results\): its lockfile is gone/);
  assert.match(forgot.stdout, /removed 3 stage results/);
  assert.match((await cli(path.join(root, 'A'), 'run', 'p.yaml')).stdout, /nothing to do/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('verify after a blob was deleted exits 1 and names the result it dropped', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  fs.rmSync(storeOf(dir).blobPath(outBlob(dir, 'b', 'out/b.txt')));
  const verify = await cli(dir, 'cache', 'verify', 'p.yaml');
  assert.equal(verify.code, 1, verify.stdout);
  assert.match(
    verify.stdout,
    /dropped {2}result of stage b \(.*blob\(s\) it needs are missing.*\): the next run recomputes/,
  );
  assert.doesNotMatch(verify.stdout, /store is consistent/);
  assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  assert.deepEqual(takeRuns(dir), ['b']);
});

test('a folder where a blob belongs: run recomputes it without a stack trace, verify removes it', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  const store = storeOf(dir);
  const blob = outBlob(dir, 'a', 'out/a.txt');
  fs.rmSync(store.blobPath(blob));
  fs.mkdirSync(store.blobPath(blob));
  fs.rmSync(path.join(dir, 'out'), { recursive: true });

  const status = await cli(dir, 'status', 'p.yaml');
  assert.match(status.stdout, /a {2}stale: its cached result is incomplete: blob .* is missing from the store/);
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stdout + run.stderr, /internal error|\n\s+at /);
  assert.deepEqual(takeRuns(dir), ['a']);
  assert.equal(fs.readFileSync(path.join(dir, 'out/c.txt'), 'utf8'), 'three:two:one:hello\n');
  assert.ok(fs.statSync(store.blobPath(blob)).isFile());
  assert.equal((await cli(dir, 'cache', 'verify', 'p.yaml')).code, 0);
});

/** A dataset of two images merged: the manifest's images are the stage's refs; their decodes are memoised. */
async function imageProject(): Promise<string> {
  const dir = makeProject({
    'p.yaml': `version: 1
seed: 5
datasets:
  faces: { format: folders, path: data }
stages:
  merge:
    type: merge
    inputs: [faces]
`,
  });
  writeFiles(dir, {});
  fs.mkdirSync(path.join(dir, 'data/anger'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'data/happy'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'data/anger/n1.png'), await imageBytes(10, { size: 32 }));
  fs.writeFileSync(path.join(dir, 'data/happy/n2.png'), await imageBytes(11, { size: 32 }));
  return dir;
}

const manifestOf = (dir: string): { blob: string; origPath: string }[] => {
  const text = storeOf(dir)
    .readBlob(outBlob(dir, 'merge', 'manifest.jsonl'))
    .toString();
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
};

test('a stage whose refs (the images its manifest names) are gone is stale in status and runs again', async () => {
  const dir = await imageProject();
  assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  const image = manifestOf(dir)[0]!.blob;
  fs.rmSync(storeOf(dir).blobPath(image));

  const status = await cli(dir, 'status', 'p.yaml');
  assert.match(status.stdout, /merge {2}stale: its cached result is incomplete: blob .* is missing from the store/);
  const run = await cli(dir, 'run', 'p.yaml', '--json');
  assert.ok(run.stdout.includes('"type":"stage-done","stage":"merge"'), run.stdout);
  assert.ok(storeOf(dir).hasBlob(image));
});

test('a corrupt blob is not restored into the workspace: the stage runs again and the out is right', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  damageBlob(storeOf(dir), outBlob(dir, 'b', 'out/b.txt'), 'two:tampered\n');
  fs.rmSync(path.join(dir, 'out/b.txt'));

  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(takeRuns(dir), ['b']);
  assert.match(run.stdout, /run +b: its cached output .* was corrupt .* and has been removed/);
  assert.equal(fs.readFileSync(path.join(dir, 'out/b.txt'), 'utf8'), 'two:one:hello\n');
  assert.equal((await cli(dir, 'cache', 'verify', 'p.yaml')).code, 0);
});

test('a record edited to name another existing blob is noticed and the stage recomputed', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  const store = storeOf(dir);
  const key = lockOf(dir).stages.b.key as string;
  const recordFile = store.recordPath(key);
  const [ownBlob, otherBlob] = [outBlob(dir, 'b', 'out/b.txt'), outBlob(dir, 'a', 'out/a.txt')];
  const edited = fs.readFileSync(recordFile, 'utf8').replaceAll(ownBlob, otherBlob);
  fs.writeFileSync(recordFile, edited);
  fs.rmSync(path.join(dir, 'out/b.txt'));

  const status = await cli(dir, 'status', 'p.yaml');
  assert.match(status.stdout, /b {2}stale: its record does not match its checksum/);
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(takeRuns(dir), ['b']);
  assert.equal(fs.readFileSync(path.join(dir, 'out/b.txt'), 'utf8'), 'two:one:hello\n');

  fs.writeFileSync(recordFile, edited);
  const verify = await cli(dir, 'cache', 'verify', 'p.yaml');
  assert.equal(verify.code, 1);
  assert.match(verify.stdout, /dropped {2}result of stage b .*does not match its checksum/);
});

test('a memo entry edited to point at another image is noticed and computed again', async () => {
  const dir = await imageProject();
  assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  const before = manifestOf(dir);
  const [n1, n2] = ['anger/n1.png', 'happy/n2.png'].map((rel) => before.find((r) => r.origPath === rel)!.blob);
  const memoDir = path.join(dir, '.fer-dag', 'items', 'merge-decode');
  for (const file of fs.readdirSync(memoDir)) {
    const text = fs.readFileSync(path.join(memoDir, file), 'utf8');
    // n1's entry now names n2's image: a stale or tampered memo.
    fs.writeFileSync(path.join(memoDir, file), text.replaceAll(n1!, n2!));
  }

  const run = await cli(dir, 'run', 'p.yaml', '--force', 'merge');
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(manifestOf(dir), before);
  assert.match(run.stdout, /1 cached entries of items\/merge-decode failed their checksum/);
});

test('temporary files a killed run left are removed by the next run and by verify', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  const store = storeOf(dir);
  const blob = outBlob(dir, 'a', 'out/a.txt');
  // Where a killed write leaves its temporary file now (tmp/), and where older versions left it (beside the blob).
  const stray = path.join(store.tempDir, `${blob.slice(2)}.tmp-99999-0-0`);
  const oldStray = `${store.blobPath(blob)}.tmp-99999-0-1`;
  writeFiles(dir, { [path.relative(dir, stray)]: 'half a blob', [path.relative(dir, oldStray)]: 'half a blob' });

  await cli(dir, 'run', 'p.yaml');
  assert.equal(fs.existsSync(stray), false, 'the next run removes tmp/');
  const verify = await cli(dir, 'cache', 'verify', 'p.yaml');
  assert.match(verify.stdout, /removed {2}1 temporary files left by interrupted writes/);
  assert.equal(fs.existsSync(oldStray), false);
});

test('export copies by default: writing an exported file leaves the store intact; --link hard-links', async () => {
  const dir = await imageProject();
  assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  const result = await cli(dir, 'export', 'p.yaml', 'merge', 'out');
  assert.equal(result.code, 0, result.stderr);
  const exported = path.join(dir, 'out/0/faces__anger_n1.png');
  fs.chmodSync(exported, 0o644); // root would not even need to
  fs.writeFileSync(exported, 'overwritten');
  const verify = await cli(dir, 'cache', 'verify', 'p.yaml');
  assert.equal(verify.code, 0, verify.stdout);
  assert.match(result.stdout, /2 images in out\/<class id 0-6>\/ \(2 copies\)/);

  const linked = await cli(dir, 'export', 'p.yaml', 'merge', 'linked', '--link');
  assert.match(linked.stdout, /2 hard links into the store: do not write to them/);
  const image = manifestOf(dir).find((r) => r.origPath === 'anger/n1.png')!.blob;
  const linkedFile = path.join(dir, 'linked/0/faces__anger_n1.png');
  assert.equal(fs.statSync(linkedFile).ino, fs.statSync(storeOf(dir).blobPath(image)).ino);
});

test("an old store's records (no checksum) are still used, and sealed by the next run", async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  const store = storeOf(dir);
  const key = lockOf(dir).stages.a.key as string;
  const record = JSON.parse(fs.readFileSync(store.recordPath(key), 'utf8'));
  delete record.checksum;
  record.recordVersion = 1;
  fs.writeFileSync(store.recordPath(key), JSON.stringify(record));
  assert.equal(store.readRecord(key).state, 'ok');

  assert.match((await cli(dir, 'run', 'p.yaml')).stdout, /nothing to do/);
  assert.deepEqual(takeRuns(dir), []);
  const sealed = store.readRecord(key);
  assert.ok(sealed.state === 'ok' && sealed.verified && sealed.record.recordVersion === 2);
});

test('gc refuses to collect anything when a root of the store is damaged, as git refuses on a broken ref', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  // The root of another pipeline sharing this store, torn.
  fs.writeFileSync(path.join(dir, '.fer-dag', 'roots', `${'0'.repeat(32)}.json`), '{"lockF');
  const records = storeOf(dir).listRecordKeys().length;

  const gc = await cli(dir, 'cache', 'gc', 'p.yaml');
  assert.equal(gc.code, 1);
  assert.match(gc.stderr, /roots.*\.json is damaged, so gc cannot tell what it protects; nothing was removed/);
  assert.doesNotMatch(gc.stderr, /\n\s+at /);
  assert.equal(storeOf(dir).listRecordKeys().length, records);
});

test('a closure too large to stat blob by blob is checked against one listing, and a deleted ref is still found', () => {
  const root = makeProject();
  const store = new Store(path.join(root, 'store'));
  const images = Array.from({ length: 2500 }, (_, i) => store.putBytes(`image ${i}`));
  const record = {
    recordVersion: 2 as const,
    key: 'c'.repeat(64),
    stage: 'merge',
    type: 'merge',
    version: '1',
    material: {},
    outputs: {},
    treeHash: 'd'.repeat(64),
    refs: store.putBytes(`${images.join('\n')}\n`),
    runtime: {},
    durationMs: 1,
    finishedAt: '',
  };
  assert.deepEqual(store.missingBlobs(record), []);
  fs.rmSync(store.blobPath(images[1234]!));
  // A fresh Store lists the objects folder again (one process, one listing).
  assert.deepEqual(new Store(path.join(root, 'store')).missingBlobs(record), [images[1234]]);
  fs.rmSync(root, { recursive: true, force: true });
});
