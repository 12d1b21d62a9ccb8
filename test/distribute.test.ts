import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { Store } from '../cache/store.js';
import type { Lockfile } from '../engine/lockfile.js';
import { EMOTIONS } from '../datasets/vocabulary.js';
import type { ManifestRecord } from '../datasets/record.js';
import { cli, makeProject } from './helpers.js';

const PIPELINE = (split = '') => `version: 1
seed: 9
stages:
  gray: { type: generate-faces, params: { style: fer2013, perClass: 12 } }
  colour: { type: generate-faces, params: { style: affectnet, perClass: 9 } }
  merge: { type: merge, inputs: [gray, colour] }
  agr: { type: agr, input: merge, params: { attributes: annotations } }
  distribute: { type: distribute, input: agr${split ? `, params: { split: ${split} }` : ''} }
`;

function lockOf(dir: string): Lockfile {
  return JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile;
}

function read(dir: string, stage: string, rel: string): Buffer {
  const files = lockOf(dir).stages[stage]!.outputs.files as Record<string, { hash: string }>;
  return new Store(path.join(dir, '.fer-dag')).readBlob(files[rel]!.hash);
}

const manifest = (dir: string, stage: string) =>
  read(dir, stage, 'manifest.jsonl')
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ManifestRecord);

test('distribute splits each source × emotion 80/10/10 to within one image, the same way in every run with the same seed', async () => {
  const [dir, twin] = [makeProject({ 'p.yaml': PIPELINE() }), makeProject({ 'p.yaml': PIPELINE() })];
  for (const d of [dir, twin]) {
    const run = await cli(d, 'run', 'p.yaml');
    assert.equal(run.code, 0, run.stdout + run.stderr);
  }
  const records = manifest(dir, 'distribute');
  assert.equal(records.length, manifest(dir, 'merge').length, 'every image is kept');
  for (const source of ['gray', 'colour']) {
    for (const emotion of EMOTIONS) {
      const stratum = records.filter((r) => r.source === source && r.label === emotion);
      for (const [split, fraction] of [
        ['train', 0.8],
        ['val', 0.1],
        ['test', 0.1],
      ] as const) {
        const n = stratum.filter((r) => r.split === split).length;
        assert.ok(
          Math.abs(n - stratum.length * fraction) <= 1,
          `${source} ${emotion} ${split}: ${n} of ${stratum.length}`,
        );
      }
    }
  }
  for (const r of records) assert.equal(r.subgroup, `${r.gender}-${r.age}-${r.ethnicity}`);
  assert.ok(
    records.some((r) => r.sourceSplit),
    "the source's own split (FER2013 usage) is kept apart",
  );
  assert.equal(
    lockOf(twin).stages.distribute!.outputs.tree,
    lockOf(dir).stages.distribute!.outputs.tree,
    'identical across runs',
  );

  // distribution.json counts what the manifest holds, all 40 subgroups listed for every emotion.
  const d = JSON.parse(read(dir, 'distribute', 'distribution.json').toString());
  const angry = d.sources.gray.angry;
  assert.equal(Object.keys(angry.subgroups).length, 40);
  const grayAngry = records.filter((r) => r.source === 'gray' && r.label === 'angry');
  assert.equal(angry.total, grayAngry.length);
  assert.equal(angry.splits.test, grayAngry.filter((r) => r.split === 'test').length);
  const present = new Set(grayAngry.map((r) => r.subgroup));
  assert.equal(angry.emptySubgroups, 40 - present.size);
  for (const source of ['gray', 'colour']) {
    for (const kind of ['attributes', 'subgroups']) {
      const meta = await sharp(read(dir, 'distribute', `plots/${source}-${kind}.png`)).metadata();
      assert.equal(meta.format, 'png');
    }
  }

  // Fractions that do not add up to 1 are refused before anything runs, with the fix.
  fs.writeFileSync(path.join(dir, 'p.yaml'), PIPELINE('{ train: 0.7, val: 0.2, test: 0.2 }'));
  const bad = await cli(dir, 'run', 'p.yaml');
  assert.equal(bad.code, 2);
  assert.match(
    bad.stdout + bad.stderr,
    /params\.split adds up to 1\.1, not 1 \(train 0\.7, val 0\.2, test 0\.2\); make the fractions sum to 1/,
  );
});

test('a model trained on a distributed dataset validates on its val split and never sees its test split', async () => {
  const dir = makeProject({
    'p.yaml':
      PIPELINE() +
      '  train: { type: train, input: distribute, params: { epochs: 1, width: 0.125, inputSize: 24, batchSize: 16 } }\n',
  });
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const records = manifest(dir, 'distribute');
  const metrics = JSON.parse(read(dir, 'train', 'metrics.json').toString());
  assert.equal(metrics.images.validation, records.filter((r) => r.split === 'val').length);
  assert.equal(metrics.images.train, records.filter((r) => r.split === 'train').length);
  assert.match(run.stdout, /validating on \d+ \(the val split\)/);
});

test('export --by subgroup lays a distributed dataset out as <emotion>/<subgroup>/', async () => {
  const dir = makeProject({ 'p.yaml': PIPELINE() });
  assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  const result = await cli(dir, 'export', 'p.yaml', 'distribute', 'out', '--by', 'subgroup');
  assert.equal(result.code, 0, result.stderr);
  const records = manifest(dir, 'distribute');
  let files = 0;
  for (const emotion of fs.readdirSync(path.join(dir, 'out')).filter((f) => EMOTIONS.includes(f as never))) {
    for (const subgroup of fs.readdirSync(path.join(dir, 'out', emotion))) {
      const inFolder = fs.readdirSync(path.join(dir, 'out', emotion, subgroup)).length;
      assert.equal(
        inFolder,
        records.filter((r) => r.label === emotion && r.subgroup === subgroup).length,
        `${emotion}/${subgroup}`,
      );
      files += inFolder;
    }
  }
  assert.equal(files, records.length);
});
