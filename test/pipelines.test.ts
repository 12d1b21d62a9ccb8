import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadPipeline } from '../engine/spec/load.js';
import { CLI, makeProject } from './helpers.js';
import { builtInRegistry } from '../stages/registry.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function validate(dir: string, file: string, env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, 'validate', file], {
    cwd: dir,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: result.status, out: result.stdout + result.stderr };
}

test('paper.yaml without the datasets says, per dataset, where it goes and where it is downloaded', () => {
  const dir = makeProject({
    'pipelines/paper.yaml': fs.readFileSync(path.join(REPO, 'pipelines', 'paper.yaml'), 'utf8'),
  });
  const { code, out } = validate(dir, 'pipelines/paper.yaml', { FER_DAG_DATA: '' });
  assert.equal(code, 2);
  for (const [name, where, url] of [
    ['fer2013', 'data/fer2013/fer2013.csv', 'kaggle.com/datasets/deadskull7/fer2013'],
    ['nhfi', 'data/nhfi', 'kaggle.com/datasets/sudarshanvaidya'],
    ['affectnet', 'data/affectnet', 'mohammadmahoor.com'],
  ]) {
    assert.match(
      out,
      new RegExp(
        `dataset "${name}": ${where.replace(/\./g, '\\.')} \\(beside the pipeline file\\) does not exist; put the dataset there \\(download it from [^)]*${url.replace(/\./g, '\\.')}`,
      ),
    );
  }
  assert.match(out, /3 errors; nothing was run/);
});

test('paper.yaml with its datasets in place is the whole method: five trainings and the 5 × 5 cross-evaluation', () => {
  // Stand-ins where the README says the datasets go (pipelines/data/): validation needs them to exist.
  const dir = makeProject({
    'pipelines/paper.yaml': fs.readFileSync(path.join(REPO, 'pipelines', 'paper.yaml'), 'utf8'),
    'pipelines/data/fer2013/fer2013.csv': 'emotion,pixels,Usage\n',
  });
  fs.mkdirSync(path.join(dir, 'pipelines', 'data', 'nhfi'));
  fs.mkdirSync(path.join(dir, 'pipelines', 'data', 'affectnet'));
  const { code, out } = validate(dir, 'pipelines/paper.yaml', { FER_DAG_DATA: '' });
  assert.equal(code, 0, out);
  const loaded = loadPipeline(path.join(dir, 'pipelines', 'paper.yaml'), builtInRegistry);
  assert.ok(loaded.ok);
  const types = [...loaded.value.stages.values()].map((s) => s.type);
  for (const type of [
    'merge',
    'reclassify-inputs',
    'agr',
    'distribute',
    'balance-with-synthesis',
    'synthesize',
    'train',
    'cross-evaluate',
    'report',
  ])
    assert.ok(types.includes(type), type);
  const cross = loaded.value.stages.get('cross')!;
  assert.deepEqual(cross.entry.models, [
    'train-fer2013',
    'train-nhfi',
    'train-affectnet',
    'train-artificial',
    'train-merged',
  ]);
  assert.deepEqual([cross.entry.input, cross.entry.inputs], ['evaluator', ['artificial']]);
  const affectnet = loaded.value.datasets.get('affectnet')!;
  assert.deepEqual(affectnet.options.downsample, { perClass: 4300 });
  const evaluator = loaded.value.stages.get('evaluator')!.entry.params as {
    perSubgroup: number;
    prompts: { templates: Record<string, string> };
  };
  const artificial = loaded.value.stages.get('artificial')!.entry.params as {
    prompts: { templates: Record<string, string> };
  };
  assert.equal(evaluator.perSubgroup, 2);
  assert.deepEqual(artificial.prompts, evaluator.prompts, 'the artificial set uses the same Table 11 prompts');
});

test('demo.yaml trains the five models of the paper and cross-evaluates them', () => {
  const loaded = loadPipeline(path.join(REPO, 'pipelines', 'demo.yaml'), builtInRegistry);
  assert.ok(loaded.ok);
  const trains = [...loaded.value.stages.values()].filter((s) => s.type === 'train').map((s) => s.name);
  assert.deepEqual(trains.sort(), [
    'train-affectnet',
    'train-artificial',
    'train-fer2013',
    'train-merged',
    'train-nhfi',
  ]);
  assert.deepEqual([...(loaded.value.stages.get('cross')!.entry.models as string[])].sort(), trains);
});
