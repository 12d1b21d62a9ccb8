import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ItemMemo } from '../cache/memo.js';
import { Store } from '../cache/store.js';
import { hashPath } from '../cache/tree.js';
import { runPipeline } from '../engine/scheduler.js';
import { loadPipeline } from '../engine/spec/load.js';
import type { EngineEvent } from '../engine/events.js';
import { builtInStages } from '../stages/registry.js';
import { stageRegistry, type StageDefinition } from '../engine/stage.js';
import { makeProject, writeFiles } from './helpers.js';

/**
 * A built-in-style stage, defined by the test: it reads every file of its input dataset through the
 * context, memoises a per-item result, draws seeded random numbers and writes outputs only through the
 * context. Its schema lives in a temp folder: a stage defined outside fer-dag names an absolute schema path.
 */
let computed: string[] = [];
const letterCount: StageDefinition<Record<string, never>> = {
  type: 'test-letter-count',
  version: '1',
  schema: path.join(
    makeProject({
      'letter-count.schema.json': JSON.stringify({
        type: 'object',
        required: ['type', 'inputs'],
        properties: { type: {}, inputs: {} },
        additionalProperties: false,
      }),
    }),
    'letter-count.schema.json',
  ),
  params: () => ({}),
  async run(ctx) {
    const source = ctx.input('letters');
    const memo = ctx.memo('letter-count');
    const counts: Record<string, number> = {};
    const files = Object.keys(source.files);
    for (const [i, rel] of files.entries()) {
      const item = { blob: source.files[rel]!.hash, v: 1 };
      let n = memo.get<number>(item);
      if (n === undefined) {
        n = source.readText(rel).trim().length;
        computed.push(rel);
        memo.set(item, n);
      }
      counts[rel] = n;
      ctx.progress(i + 1, files.length);
    }
    const random = ctx.random('draw');
    ctx.output.writeJson('counts.json', counts);
    ctx.output.writeJson('draw.json', [random(), random()]);
    ctx.output.putBlob('referenced, not listed');
  },
};

test('a stage reads inputs, memoises per item, and writes outputs only through its context', async () => {
  const dir = makeProject({
    'letters/one.txt': 'abc',
    'letters/two.txt': 'de',
    'p.yaml': `version: 1
seed: 11
datasets:
  letters: { format: files, path: letters }
stages:
  count: { type: test-letter-count, inputs: [letters] }
`,
  });
  const run = async () => {
    const loaded = loadPipeline(path.join(dir, 'p.yaml'), stageRegistry([...builtInStages, letterCount]));
    assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.diagnostics));
    const events: EngineEvent[] = [];
    const summary = await runPipeline(loaded.value, new Store(loaded.value.storeDir), {
      jobs: 1,
      emit: (e) => events.push(e),
    });
    return { summary, events, lock: summary.lock };
  };

  computed = [];
  const first = await run();
  assert.deepEqual(first.summary.executed, ['count']);
  assert.deepEqual(computed, ['one.txt', 'two.txt']);
  assert.ok(first.events.some((e) => e.type === 'stage-progress' && e.done === 2 && e.total === 2));
  const store = new Store(path.join(dir, '.fer-dag'));
  const counts = first.lock.stages.count!.outputs.files['counts.json']!;
  assert.deepEqual(JSON.parse(store.readBlob(counts.hash).toString()), { 'one.txt': 3, 'two.txt': 2 });
  assert.equal(first.lock.datasets.letters!.files, 2);

  // Adding one file to the dataset reruns the stage, which computes only the new item.
  writeFiles(dir, { 'letters/three.txt': 'fghi' });
  computed = [];
  const second = await run();
  assert.deepEqual(second.summary.executed, ['count']);
  assert.deepEqual(computed, ['three.txt']);
  const draws = (lock: typeof first.lock) =>
    store.readBlob(lock.stages.count!.outputs.files['draw.json']!.hash).toString();
  assert.equal(draws(first.lock), draws(second.lock), 'same seed and stage name give the same random draws');

  // The record lists the blob the output refers to, so gc keeps it and verify checks it.
  const record = store.getRecord(second.lock.stages.count!.key)!;
  assert.ok(store.recordBlobs(record).some((h) => store.readBlob(h).toString() === 'referenced, not listed'));
});

test('the per-item memo survives a reopen and skips a torn last line', () => {
  const dir = makeProject();
  const memo = new ItemMemo(path.join(dir, 'items', 'agr'));
  memo.set({ blob: 'b1', model: 'm' }, { gender: 'female' });
  memo.set({ blob: 'b2', model: 'm' }, { gender: 'male' });
  memo.close();
  const segment = fs.readdirSync(path.join(dir, 'items', 'agr'))[0]!;
  fs.appendFileSync(path.join(dir, 'items', 'agr', segment), '{"k":"torn');
  const reopened = new ItemMemo(path.join(dir, 'items', 'agr'));
  assert.deepEqual(reopened.get({ model: 'm', blob: 'b1' }), { gender: 'female' });
  assert.equal(reopened.size, 2);
  assert.equal(reopened.get({ blob: 'b3', model: 'm' }), undefined);
});

test('re-hashing an unchanged folder reads no file; an edited file is read again', async () => {
  const dir = makeProject();
  for (let i = 0; i < 300; i++) writeFiles(dir, { [`data/${i % 7}/${i}.txt`]: `image ${i}` });
  const first = new Store(path.join(dir, '.fer-dag'));
  const { files: tree } = await hashPath(first.statCache, path.join(dir, 'data'));
  first.close();
  assert.equal(first.statCache.filesRead, 300);

  const second = new Store(path.join(dir, '.fer-dag')); // a new process: the stat cache comes from disk
  assert.deepEqual((await hashPath(second.statCache, path.join(dir, 'data'))).files, tree);
  assert.equal(second.statCache.filesRead, 0);
  fs.writeFileSync(path.join(dir, 'data/3/3.txt'), 'edited!');
  const { files: edited } = await hashPath(second.statCache, path.join(dir, 'data'));
  assert.equal(second.statCache.filesRead, 1);
  assert.notEqual(edited['3/3.txt']!.hash, tree['3/3.txt']!.hash);
});

test('a symlinked folder inside a dataset is hashed; a link back up does not loop', async () => {
  const dir = makeProject({ 'elsewhere/happy/1.txt': 'smile', 'data/sad/2.txt': 'frown' });
  fs.symlinkSync(path.join(dir, 'elsewhere', 'happy'), path.join(dir, 'data', 'happy'));
  fs.symlinkSync(path.join(dir, 'data'), path.join(dir, 'data', 'sad', 'loop'));
  const store = new Store(path.join(dir, '.fer-dag'));
  const { files } = await hashPath(store.statCache, path.join(dir, 'data'));
  assert.deepEqual(Object.keys(files), ['happy/1.txt', 'sad/2.txt']);
});

test("a model file's hash is part of the key: replacing the weights reruns the stage", async () => {
  const dir = makeProject({
    'weights.bin': 'v1',
    'p.yaml': 'version: 1\nstages:\n  predict: { type: test-uses-model }\n',
  });
  let runs = 0;
  const usesModel: StageDefinition<Record<string, never>> = {
    type: 'test-uses-model',
    version: '1',
    schema: path.join(
      makeProject({ 's.json': JSON.stringify({ type: 'object', required: ['type'], properties: { type: {} } }) }),
      's.json',
    ),
    params: () => ({}),
    modelFiles: () => ({ classifier: path.join(dir, 'weights.bin') }),
    async run(ctx) {
      runs++;
      ctx.output.writeFile('ran.txt', 'yes');
    },
  };
  const run = async () => {
    const loaded = loadPipeline(path.join(dir, 'p.yaml'), stageRegistry([...builtInStages, usesModel]));
    assert.ok(loaded.ok);
    return runPipeline(loaded.value, new Store(loaded.value.storeDir), { jobs: 1, emit: () => {} });
  };
  const first = await run();
  assert.match(first.lock.stages.predict!.models.classifier!, /^[0-9a-f]{64}$/);
  await run();
  assert.equal(runs, 1);
  fs.writeFileSync(path.join(dir, 'weights.bin'), 'v2');
  await run();
  assert.equal(runs, 2);
});
