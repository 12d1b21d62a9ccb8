import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { defineStage, type StageEntry } from '../engine/stage.js';
import { schemasDir } from '../engine/paths.js';
import { defaultParams, schemaValidator } from '../engine/spec/schema-check.js';
import type { AgrEntry } from '../schemas/types/agr.js';
import type { CommandEntry } from '../schemas/types/command.js';
import { builtInStages } from '../stages/registry.js';

/** An entry as the loader leaves it: validated against its stage schema, defaults filled in (or the errors). */
function validated(schemaFile: string, entry: Record<string, unknown>): StageEntry {
  const validate = schemaValidator(path.join(schemasDir, 'stages', schemaFile));
  assert.ok(validate(entry), JSON.stringify(validate.errors));
  return entry as StageEntry;
}

test('a shared definition reached through $ref has its defaults filled in, around what the entry gives', () => {
  const given = { ageBuckets: { young: 12 }, detector: {} };
  const agr = validated('agr.schema.json', { type: 'agr', input: 'merged', params: given });
  const params = agr.params as AgrEntry['params'];
  assert.equal(params.ageBuckets.young, 12);
  assert.deepEqual(params.ageBuckets, { ...defaultParams<AgrEntry>('agr.schema.json').ageBuckets, young: 12 });
  assert.equal(typeof params.detector.minConfidence, 'number', 'the detector defaults inside common.schema.json');
  assert.equal(params.backend, 'auto');
  for (const stage of ['synthesize', 'balance-with-synthesis']) {
    const entry = validated(`${stage}.schema.json`, { type: stage, ...(stage === 'synthesize' ? {} : { input: 'd' }) });
    type Shared = { checks: { emotion: { enabled: boolean } }; synthesizer: { type: string }; sources?: unknown };
    const p = entry.params as Shared;
    assert.equal(p.checks.emotion.enabled, true, `${stage}: checks.emotion filled in through two levels of defaults`);
    assert.equal(p.synthesizer.type, 'procedural');
    if (stage === 'balance-with-synthesis') assert.equal(p.sources, 'all', 'a default beside a $ref to a oneOf');
  }
});

test('a shared definition still refuses what it refused in each stage', () => {
  const validate = schemaValidator(path.join(schemasDir, 'stages', 'train.schema.json'));
  assert.equal(validate({ type: 'train', input: 'x', params: { reduceLr: { factor: 2 } } }), false);
  assert.equal(validate({ type: 'train', input: 'x', params: { backend: 'gpu' } }), false);
  assert.equal(validate({ type: 'train', input: 'x', params: { reduceLr: { patience: 2, extra: 1 } } }), false);
});

test('defaultParams gives what the loader fills into an entry that leaves params out', () => {
  const entry = validated('train.schema.json', { type: 'train', input: 'x' });
  assert.deepEqual(defaultParams('train.schema.json'), entry.params);
  assert.throws(() => defaultParams('generate-faces.schema.json'), /params left empty are invalid/, 'no default style');
});

test('defineStage hands every hook the params, typed from the schema, and declares only the hooks given', () => {
  const seen: unknown[] = [];
  const stage = defineStage<AgrEntry>({
    type: 'agr',
    version: '1',
    schema: 'agr.schema.json',
    keyParams: (params) => ({ young: params.ageBuckets.young }),
    modelFiles: (params, entry) => {
      seen.push(params, entry.input);
      return {};
    },
    run: async () => {},
  });
  const entry = validated('agr.schema.json', { type: 'agr', input: 'merged', params: { ageBuckets: { young: 10 } } });
  assert.deepEqual(stage.keyParams!(entry), { young: 10 });
  assert.deepEqual(stage.modelFiles!(entry), {});
  assert.deepEqual(seen, [entry.params, 'merged']);
  assert.equal(stage.params(entry), entry.params);
  for (const hook of ['workspacePaths', 'uncacheableReason', 'checkEntry', 'produces'] as const) {
    assert.ok(!(hook in stage), hook);
  }

  // A stage whose params are its whole entry says so.
  const command = defineStage<CommandEntry, CommandEntry>({
    type: 'command',
    version: '1',
    schema: 'command.schema.json',
    params: (e) => e,
    workspacePaths: ({ deps, outs }) => ({ deps, outs }),
    run: async () => {},
  });
  const cmd = validated('command.schema.json', { type: 'command', cmd: ['true'], deps: ['a'] });
  assert.deepEqual(command.workspacePaths!(cmd), { deps: ['a'], outs: [] });
});

test('every built-in stage names a schema that exists and compiles with the shared definitions', () => {
  for (const stage of builtInStages) {
    assert.equal(typeof schemaValidator(path.join(schemasDir, 'stages', stage.schema)), 'function', stage.type);
    assert.equal(stage.schema, `${stage.type}.schema.json`);
  }
});
