import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { SUBGROUPS } from '../datasets/vocabulary.js';
import { EMOTIONS } from '../datasets/vocabulary.js';
import { cli, makeProject, stageOutput } from './helpers.js';

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
  const out = stageOutput(dir, 'artificial');
  const records = out.records();
  const summary = out.json('synthesis.json');
  assert.deepEqual(summary.wanted, { train: 280, test: 0 });
  assert.equal(records.length + summary.open, 280, 'every place is a face or listed open');
  assert.ok(summary.open <= 5, `${summary.open} places open`);
  for (const emotion of EMOTIONS) {
    for (const subgroup of SUBGROUPS) {
      assert.ok(records.filter((r) => r.label === emotion && r.subgroup === subgroup).length <= 1);
    }
  }
  assert.ok(
    records.every(
      (r) => r.source === 'artificial' && r.synthetic && r.split === 'train' && r.prompt && typeof r.seed === 'number',
    ),
  );
  const meta = await sharp(out.blob(records[0]!.blob)).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels, meta.format], [32, 32, 1, 'png']);
});
