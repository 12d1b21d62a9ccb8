import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Store } from '../cache/store.js';
import { cli, executedStages, makeProject } from './helpers.js';
import { imageBytes } from './image-fixtures.js';

/** A folders dataset of two faces and a merge of it; `dataset` is the dataset's YAML mapping. */
async function project(): Promise<string> {
  const dir = makeProject();
  for (const [rel, seed] of [
    ['data/nhfi/anger/n1.png', 1],
    ['data/nhfi/happy/n2.png', 2],
  ] as const) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), await imageBytes(seed, { size: 32 }));
  }
  writeSpec(dir, '{ format: folders, path: data/nhfi }');
  return dir;
}

function writeSpec(dir: string, dataset: string): void {
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    `version: 1\nseed: 3\ndatasets:\n  nhfi: ${dataset}\nstages:\n  merge:\n    type: merge\n    inputs: [nhfi]\n`,
  );
}

function mergedLabels(dir: string): string[] {
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8'));
  const store = new Store(path.join(dir, '.fer-dag'));
  const manifest = store.readBlob(lock.stages.merge.outputs.files['manifest.jsonl'].hash).toString();
  return manifest
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { label: string }).label)
    .sort();
}

test('a dataset read another way (its labels option) makes merge stale and rerun, naming the option', async () => {
  const dir = await project();
  assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  assert.deepEqual(mergedLabels(dir), ['angry', 'happy']);

  writeSpec(dir, '{ format: folders, path: data/nhfi, labels: { happy: null } }');
  const status = await cli(dir, 'status', 'p.yaml');
  assert.match(status.stdout, /merge.*stale.*dataset read differently: sources\.nhfi\.labels/s);
  const rerun = await cli(dir, 'run', 'p.yaml', '--json');
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(executedStages(rerun), ['merge']);
  assert.deepEqual(mergedLabels(dir), ['angry']);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('moving a dataset or describing it differently reruns nothing: where it lives is not how it is read', async () => {
  const dir = await project();
  assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  fs.renameSync(path.join(dir, 'data'), path.join(dir, 'elsewhere'));
  writeSpec(dir, '{ format: folders, path: elsewhere/nhfi, url: "https://example.org/nhfi", description: moved }');
  const rerun = await cli(dir, 'run', 'p.yaml', '--json');
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(executedStages(rerun), []);
  fs.rmSync(dir, { recursive: true, force: true });
});
