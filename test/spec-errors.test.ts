import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { Diagnostic } from '../engine/spec/diagnostics.js';
import { parsePipeline } from '../engine/spec/load.js';
import { cli, makeProject } from './helpers.js';
import { builtInRegistry } from '../stages/registry.js';

/** Parses `text` as `p.yaml` in a fresh project holding `files`; the spec must be refused. */
function refuse(text: string, files: Record<string, string> = {}): Diagnostic[] {
  const dir = makeProject(files);
  const result = parsePipeline(path.join(dir, 'p.yaml'), text, builtInRegistry);
  assert.equal(result.ok, false, 'the pipeline should have been refused');
  return result.ok ? [] : result.diagnostics;
}

/** The one diagnostic a bad spec gets, checked for its code and 1-based line and column. */
function only(
  text: string,
  code: string,
  line: number,
  column: number,
  files: Record<string, string> = {},
): Diagnostic {
  const diagnostics = refuse(text, files);
  assert.equal(diagnostics.length, 1, `expected one diagnostic, got ${JSON.stringify(diagnostics, null, 1)}`);
  const [d] = diagnostics;
  assert.equal(d!.code, code);
  assert.equal(d!.severity, 'error');
  assert.deepEqual([d!.at?.line, d!.at?.column], [line, column], `position of: ${d!.message}`);
  return d!;
}

describe('a bad pipeline is refused with a positioned diagnostic', () => {
  test('a stray closing bracket is a YAML syntax error at that bracket', () => {
    const d = only('version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, x.js]]\n', 'yaml-syntax', 5, 22);
    assert.match(d.message, /^YAML syntax error: Unexpected flow-seq-end token/);
  });

  test('an unclosed flow sequence is reported where the next key shows it never closed', () => {
    const text = 'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, x.js\n    outs: [o.txt]\n';
    const d = only(text, 'yaml-syntax', 6, 5);
    assert.match(d.message, /Flow sequence .* must be sufficiently indented and end with a \]/);
  });

  test('a stage named twice is a duplicate key, marked at the second one', () => {
    const text =
      'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, a.js]\n  a:\n    type: command\n    cmd: [node, b.js]\n';
    const d = only(text, 'duplicate-key', 6, 3);
    assert.equal(d.message, 'stages: duplicate key "a": each key may appear once in a mapping');
    assert.equal(d.path, 'stages.a');
    assert.equal(d.at!.length, 1);
  });

  test('a misspelt stage type is marked at its value and the right type is suggested', () => {
    const d = only('version: 1\nstages:\n  a:\n    type: comand\n    cmd: [node, a.js]\n', 'unknown-stage-type', 4, 11);
    assert.equal(d.path, 'stages.a.type');
    assert.match(d.message, /unknown stage type "comand"; did you mean "command"\?/);
    assert.equal(d.at!.length, 'comand'.length);
  });

  test('an input naming no stage or dataset is marked at that list item', () => {
    const text =
      'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, a.js]\n  b:\n    type: command\n    cmd: [node, b.js]\n    inputs: [a, nope]\n';
    const d = only(text, 'unknown-reference', 9, 17);
    assert.equal(d.path, 'stages.b.inputs.1');
    assert.equal(d.message, 'stages.b.inputs.1: no stage or dataset is named "nope"');
  });

  test('two stages feeding each other are a cycle, printed in the direction data flows', () => {
    const two =
      'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, a.js]\n    inputs: [b]\n  b:\n    type: command\n    cmd: [node, b.js]\n    inputs: [a]\n';
    const d = only(two, 'cycle', 7, 3);
    assert.match(d.message, /^the stages form a cycle: b → a → b;/);
    // c feeds a, a feeds b, b feeds c: every arrow must point from a stage to one that reads it.
    const three =
      'version: 1\nstages:\n  a: { type: command, cmd: [x], inputs: [c] }\n  b: { type: command, cmd: [x], inputs: [a] }\n  c: { type: command, cmd: [x], inputs: [b] }\n';
    assert.match(only(three, 'cycle', 4, 3).message, /cycle: b → c → a → b;/);
  });

  test('a dataset path that does not exist is marked at the path value', () => {
    const text =
      'version: 1\ndatasets:\n  faces:\n    format: folders\n    path: data/faces\nstages:\n  a:\n    type: command\n    cmd: [node, a.js]\n    inputs: [faces]\n';
    const d = only(text, 'missing-path', 5, 11);
    assert.equal(d.path, 'datasets.faces.path');
    assert.match(d.message, /^dataset "faces": data\/faces \(beside the pipeline file\) does not exist/);
    assert.equal(d.at!.length, 'data/faces'.length);
  });

  test("a command dep that does not exist and is no stage's out is a missing path", () => {
    const text = 'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, a.js]\n    deps: [a.js, nothing.txt]\n';
    const d = only(text, 'missing-path', 6, 18, { 'a.js': '' });
    assert.equal(d.path, 'stages.a.deps.1');
    assert.equal(d.message, 'stages.a.deps: "nothing.txt" does not exist and no stage declares it in its outs');
  });

  test('an empty cmd breaks the schema and the message starts with its dotted path', () => {
    const d = only('version: 1\nstages:\n  a:\n    type: command\n    cmd: []\n', 'schema', 5, 10);
    assert.equal(d.message, 'stages.a.cmd must NOT have fewer than 1 items');
  });

  test('params that are not a mapping break the schema at the params value', () => {
    const d = only(
      'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, a.js]\n    params: 3\n',
      'schema',
      6,
      13,
    );
    assert.equal(d.message, 'stages.a.params must be object');
  });

  test('an unknown property is marked at its key and the intended one is suggested', () => {
    const d = only(
      'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, a.js]\n    parms: { x: 1 }\n',
      'schema',
      6,
      5,
    );
    assert.equal(d.path, 'stages.a.parms');
    assert.match(d.message, /^stages\.a has unknown property "parms"/);
    assert.match(d.message, /did you mean "params"\?/);
  });

  test('two stages declaring the same out are refused at the second declaration', () => {
    const text =
      'version: 1\nstages:\n  a:\n    type: command\n    cmd: [node, a.js]\n    outs: [out/x.txt]\n  b:\n    type: command\n    cmd: [node, b.js]\n    outs: [out/x.txt]\n';
    const d = only(text, 'duplicate-out', 10, 12);
    assert.equal(
      d.message,
      'stages.b.outs: "out/x.txt" overlaps "out/x.txt", an out of stage "a"; each output path has one owner',
    );
  });
});

/** A valid stage `w` that writes made.txt when run, followed by `rest` (more stages or top-level keys). */
function project(rest: string): string {
  const text = `version: 1\nstages:\n  w:\n    type: command\n    cmd: [node, write.mjs]\n    outs: [made.txt]\n${rest}`;
  return makeProject({
    'p.yaml': text,
    'write.mjs': "import { writeFileSync } from 'node:fs';\nwriteFileSync('made.txt', 'made');\n",
  });
}

const BAD: { name: string; rest: string; at: string; message: RegExp }[] = [
  {
    name: 'a syntax error',
    rest: '  bad:\n    type: command\n    cmd: [node, write.mjs]]\n',
    at: '9:27',
    message: /YAML syntax error/,
  },
  {
    name: 'an unknown stage type',
    rest: '  bad:\n    type: comand\n    cmd: [node, write.mjs]\n',
    at: '8:11',
    message: /did you mean "command"/,
  },
  {
    name: 'a cycle',
    rest: '  x:\n    type: command\n    cmd: [node, write.mjs]\n    inputs: [y]\n  y:\n    type: command\n    cmd: [node, write.mjs]\n    inputs: [x]\n',
    at: '11:3',
    message: /the stages form a cycle: y → x → y/,
  },
  {
    name: 'a missing dataset path',
    rest: '  bad:\n    type: command\n    cmd: [node, write.mjs]\n    inputs: [faces]\ndatasets:\n  faces:\n    format: folders\n    path: data/faces\n',
    at: '14:11',
    message: /data\/faces \(beside the pipeline file\) does not exist/,
  },
  {
    name: 'a duplicate key',
    rest: '  w:\n    type: command\n    cmd: [node, write.mjs]\n',
    at: '7:3',
    message: /duplicate key "w"/,
  },
  {
    name: 'an unknown reference',
    rest: '  bad:\n    type: command\n    cmd: [node, write.mjs]\n    inputs: [nope]\n',
    at: '10:14',
    message: /no stage or dataset is named "nope"/,
  },
  {
    name: 'a missing dep',
    rest: '  bad:\n    type: command\n    cmd: [node, write.mjs]\n    deps: [write.mjs, nothere.txt]\n',
    at: '10:23',
    message: /"nothere.txt" does not exist and no stage declares it in its outs/,
  },
  {
    name: 'a schema violation',
    rest: '  bad:\n    type: command\n    cmd: []\n',
    at: '9:10',
    message: /stages\.bad\.cmd must NOT have fewer than 1 items/,
  },
  {
    name: 'an unknown property',
    rest: '  bad:\n    type: command\n    cmd: [node, write.mjs]\n    parms: { x: 1 }\n',
    at: '10:5',
    message: /unknown property "parms"; did you mean "params"\?/,
  },
  {
    name: 'a duplicate out',
    rest: '  bad:\n    type: command\n    cmd: [node, write.mjs]\n    outs: [made.txt]\n',
    at: '10:12',
    message: /overlaps "made.txt", an out of stage "w"/,
  },
];

function assertNothingRan(dir: string): void {
  assert.equal(fs.existsSync(path.join(dir, 'made.txt')), false, 'a stage was executed');
  const runs = path.join(dir, '.fer-dag', 'runs');
  assert.deepEqual(fs.existsSync(runs) ? fs.readdirSync(runs) : [], [], 'a stage record was written');
  assert.equal(fs.existsSync(path.join(dir, 'p.lock.json')), false, 'a lockfile was written');
}

describe('the CLI refuses a bad pipeline with exit code 2 and file:line:column', () => {
  for (const bad of BAD) {
    test(`validate reports ${bad.name} at p.yaml:${bad.at}`, async () => {
      const dir = project(bad.rest);
      const result = await cli(dir, 'validate', 'p.yaml');
      assert.equal(result.code, 2, result.stderr);
      assert.ok(result.stderr.includes(`p.yaml:${bad.at}: `), result.stderr);
      assert.match(result.stderr, bad.message);
      assert.equal(result.stdout, '');
    });

    test(`run refuses ${bad.name} and executes nothing`, async () => {
      const dir = project(bad.rest);
      const result = await cli(dir, 'run', 'p.yaml');
      assert.equal(result.code, 2, result.stderr);
      assert.ok(result.stderr.includes(`p.yaml:${bad.at}: `), result.stderr);
      assert.equal(result.stderr.trimEnd().split('\n').at(-1), '1 error; nothing was run.');
      assertNothingRan(dir);
    });
  }

  test('the offending source line is shown with a marker under the bad span', async () => {
    const result = await cli(project(BAD[1]!.rest), 'validate', 'p.yaml');
    assert.ok(result.stderr.includes('   8 |     type: comand\n     |           ^^^^^^\n'), result.stderr);
  });

  test('every error in a file is reported at once, not just the first', async () => {
    const dir = project(
      '  a:\n    type: command\n    cmd: [node, write.mjs]\n    inputs: [nope]\n  b:\n    type: command\n    cmd: [node, write.mjs]\n    inputs:\n      - w\n      - nada\n',
    );
    for (const args of [
      ['validate', 'p.yaml'],
      ['run', 'p.yaml'],
    ]) {
      const result = await cli(dir, ...args);
      assert.equal(result.code, 2, result.stderr);
      assert.ok(
        result.stderr.includes('p.yaml:10:14: stages.a.inputs.0: no stage or dataset is named "nope"'),
        result.stderr,
      );
      assert.ok(
        result.stderr.includes('p.yaml:16:9: stages.b.inputs.1: no stage or dataset is named "nada"'),
        result.stderr,
      );
      assert.ok(result.stderr.endsWith('2 errors; nothing was run.\n'), result.stderr);
    }
    assertNothingRan(dir);
  });
});

test('a missing dataset says where it goes and where it is downloaded; ${VAR:-default} paths point elsewhere', async () => {
  const dir = makeProject({
    'p.yaml':
      'version: 1\ndatasets:\n  fer2013:\n    format: fer2013-csv\n    path: ${FER_DATA_TEST:-data}/fer2013.csv\n    url: https://example.org/fer2013\nstages:\n  merge: { type: merge, inputs: [fer2013] }\n',
    'elsewhere/fer2013.csv': 'emotion,pixels,Usage\n',
  });
  const missing = await cli(dir, 'validate', 'p.yaml');
  assert.equal(missing.code, 2);
  assert.ok(
    missing.stderr.startsWith(
      'p.yaml:5:11: dataset "fer2013": data/fer2013.csv (beside the pipeline file) does not exist; put the dataset there (download it from https://example.org/fer2013), or point path at it',
    ),
    missing.stderr,
  );
  const pointed = parsePipeline(
    path.join(dir, 'p.yaml'),
    fs.readFileSync(path.join(dir, 'p.yaml'), 'utf8').replace('FER_DATA_TEST:-data', 'FER_DATA_TEST:-elsewhere'),
    builtInRegistry,
  );
  assert.equal(pointed.ok, true);
});
