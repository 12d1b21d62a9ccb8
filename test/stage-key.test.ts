import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { canonicalJson, sha256 } from '../cache/hash.js';
import { Store } from '../cache/store.js';
import { InputHasher } from '../engine/input-hasher.js';
import { gatherMaterial } from '../engine/material.js';
import { parsePipeline } from '../engine/spec/load.js';
import { stageKey, type KeyMaterial } from '../engine/stage-key.js';
import { makeProject } from './helpers.js';
import { builtInRegistry } from '../stages/registry.js';

const FILES = { 'make.mjs': 'console.log("make")\n', 'src.txt': 'hello\n' };

/** Every stage's key for pipeline `text`, computed in a fresh project holding `files`. */
async function keysOf(text: string, files: Record<string, string> = FILES): Promise<Record<string, string>> {
  const dir = makeProject(files);
  const parsed = parsePipeline(path.join(dir, 'p.yaml'), text, builtInRegistry);
  if (!parsed.ok) assert.fail(JSON.stringify(parsed.diagnostics, null, 1));
  const pipeline = parsed.value;
  const store = new Store(path.join(dir, '.fer-dag'));
  const hasher = new InputHasher(store, pipeline.dir);
  const keys: Record<string, string> = {};
  try {
    for (const name of pipeline.order)
      keys[name] = stageKey(await gatherMaterial(pipeline, pipeline.stages.get(name)!, new Map(), hasher));
  } finally {
    store.close();
  }
  return keys;
}

const BASE = `version: 1
seed: 7
stages:
  small:
    type: command
    cmd: [node, make.mjs, "\${params.size}"]
    deps: [make.mjs, src.txt]
    outs: [out/small.txt]
    params: { size: 3, label: tiny }
  large:
    type: command
    cmd: [node, make.mjs, "\${params.size}"]
    deps: [make.mjs]
    outs: [out/large.txt]
    params: { size: 9, label: huge }
`;

describe('canonical JSON', () => {
  test('keys are sorted at every depth and arrays keep their order', () => {
    assert.equal(canonicalJson({ a: 1, b: [{ d: 1, c: 2 }] }), '{"a":1,"b":[{"c":2,"d":1}]}');
    assert.equal(
      canonicalJson({ z: { y: { x: 1, w: [3, 1, 2] } }, a: null }),
      '{"a":null,"z":{"y":{"w":[3,1,2],"x":1}}}',
    );
  });

  test('two objects equal as data serialise to the same bytes whatever their key order', () => {
    const one = { outs: ['o'], params: { rows: 2, cols: { b: true, a: 'x' } }, cmd: ['node'] };
    const two = { cmd: ['node'], params: { cols: { a: 'x', b: true }, rows: 2 }, outs: ['o'] };
    assert.equal(canonicalJson(one), canonicalJson(two));
    assert.equal(canonicalJson({ a: 1, gone: undefined }), '{"a":1}');
  });
});

describe('the stage key', () => {
  test('a fixed key material always hashes to the same pinned key', () => {
    const material: KeyMaterial = {
      type: 'command',
      version: '1',
      params: { cmd: ['node', 'make.mjs', '${params.size}'], env: {}, outs: ['out/a.txt'], params: { size: 3 } },
      seed: 7,
      stream: 'a',
      inputs: {},
      datasets: { faces: '1'.repeat(64) },
      deps: { 'make.mjs': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
      models: {},
    };
    const pinned = 'e431c59bd90e92bf681675273a085a72a151fd93669a9df9cdba8a9ddd4b0746';
    assert.equal(stageKey(material), pinned);
    // The same key from the canonical text written out by hand: sha256 of sorted, whitespace-free JSON.
    const text =
      '{"datasets":{"faces":"' +
      '1'.repeat(64) +
      '"},"deps":{"make.mjs":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},' +
      '"inputs":{},"models":{},"params":{"cmd":["node","make.mjs","${params.size}"],"env":{},"outs":["out/a.txt"],"params":{"size":3}},' +
      '"seed":7,"stream":"a","type":"command","version":"1"}';
    assert.equal(sha256(text), pinned);
  });

  test('a comment, key order, quoting style or whitespace does not change any stage key', async () => {
    const restyled = `# the same pipeline, written differently
stages:

  large:     # keys reordered, block style, other quotes
    params:
      label: 'huge'
      size: 9
    outs:
      - "out/large.txt"
    deps: ["make.mjs"]
    cmd:
      - 'node'
      - make.mjs
      - '\${params.size}'
    type: "command"
  small: {type: command, params: {label: "tiny", size: 3}, outs: [out/small.txt], deps: [make.mjs, 'src.txt'],
    cmd: [node, make.mjs, "\${params.size}"]}
seed: 7     # trailing comment
version: 1
`;
    const base = await keysOf(BASE);
    assert.deepEqual(await keysOf(restyled), base);
    assert.notEqual(base.small, base.large);
    assert.match(base.small!, /^[0-9a-f]{64}$/);
  });

  test("changing a param value changes that stage's key and no other", async () => {
    const base = await keysOf(BASE);
    const changed = await keysOf(BASE.replace('size: 3', 'size: 4'));
    assert.notEqual(changed.small, base.small);
    assert.equal(changed.large, base.large);
    const relabelled = await keysOf(BASE.replace('label: huge', 'label: "huge "'));
    assert.notEqual(relabelled.large, base.large);
    assert.equal(relabelled.small, base.small);
  });

  test('spelling out a schema default does not change the key', async () => {
    const implicit = 'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, make.mjs]\n    outs: [out/a.txt]\n';
    const explicit =
      'version: 1\nseed: 0\nstore: .fer-dag\ndatasets: {}\nstages:\n  a:\n    type: command\n    cmd: [node, make.mjs]\n' +
      '    outs: [out/a.txt]\n    deps: []\n    inputs: []\n    params: {}\n    env: {}\n';
    assert.deepEqual(await keysOf(explicit), await keysOf(implicit));
  });

  test('changing the pipeline seed changes every key', async () => {
    const base = await keysOf(BASE);
    const reseeded = await keysOf(BASE.replace('seed: 7', 'seed: 8'));
    assert.notEqual(reseeded.small, base.small);
    assert.notEqual(reseeded.large, base.large);
  });

  test('renaming a stage changes its key, because its random stream is derived from its name', async () => {
    const base = await keysOf(BASE);
    const renamed = await keysOf(BASE.replace('  small:', '  tiny:'));
    assert.equal(renamed.small, undefined);
    assert.notEqual(renamed.tiny, base.small);
    assert.equal(renamed.large, base.large);
  });

  test("editing a dep's contents changes the key of the stage that reads it", async () => {
    const before = await keysOf(BASE);
    const after = await keysOf(BASE, { ...FILES, 'src.txt': 'hello, again\n' });
    assert.notEqual(after.small, before.small);
    assert.equal(after.large, before.large);
  });
});
