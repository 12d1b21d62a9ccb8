import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { Store } from '../cache/store.js';
import type { Lockfile } from '../engine/lockfile.js';
import { SUBGROUPS } from '../stages/distribute/counts.js';
import { EMOTIONS } from '../stages/formats/emotions.js';
import type { ManifestRecord } from '../stages/merge.js';
import { cli, makeProject } from './helpers.js';

test('synthesize makes a wholly artificial dataset: every emotion × subgroup with its faces, in the format asked for', async () => {
  const dir = makeProject({
    'p.yaml': `version: 1
seed: 4
stages:
  artificial:
    type: synthesize
    params: { perSubgroup: 1, testPerSubgroup: 0, width: 128, height: 128, maxAttempts: 4, format: { size: 32, channels: 1 }, checks: { emotion: { enabled: false }, attributes: [] } }
`,
  });
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const store = new Store(path.join(dir, '.fer-dag'));
  const files = (JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile).stages.artificial!.outputs.files as Record<string, { hash: string }>;
  const records = store.readBlob(files['manifest.jsonl']!.hash).toString().trim().split('\n').map((l) => JSON.parse(l) as ManifestRecord);
  const summary = JSON.parse(store.readBlob(files['synthesis.json']!.hash).toString());
  assert.deepEqual(summary.wanted, { train: 280, test: 0 });
  assert.equal(records.length + summary.open, 280, 'every place is a face or listed open');
  assert.ok(summary.open <= 5, `${summary.open} places open`);
  for (const emotion of EMOTIONS) {
    for (const subgroup of SUBGROUPS) {
      assert.ok(records.filter((r) => r.label === emotion && r.subgroup === subgroup).length <= 1);
    }
  }
  assert.ok(records.every((r) => r.source === 'artificial' && r.synthetic && r.split === 'train' && r.prompt && typeof r.seed === 'number'));
  const meta = await sharp(store.readBlob(records[0]!.blob)).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels, meta.format], [32, 32, 1, 'png']);
});
