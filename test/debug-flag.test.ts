import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { makeCase, runCli } from './cli-cases.js';

/** Three stages: two that work and a distribute that fails when it runs, since merge's records carry no attributes. */
const FAILS_AT_RUN = `version: 1
stages:
  faces: { type: generate-faces, params: { style: fer2013, perClass: 1, size: 48 } }
  merge: { type: merge, inputs: [faces] }
  d: { type: distribute, input: merge }
`;

test('a stage that fails when it runs prints its message; --debug or FER_DAG_DEBUG=1 adds the stack', async () => {
  const { dir, root } = makeCase({ name: 'fails at run', spec: FAILS_AT_RUN, message: /./ });
  try {
    const plain = await runCli(dir, ['run', 'p.yaml']);
    const output = plain.stdout + plain.stderr;
    assert.equal(plain.code, 1, output);
    assert.match(output, /FAILED\s+d \(stage-error\):\s+no image of merge has gender, age and ethnicity/);
    assert.doesNotMatch(output, /^\s+at /m, 'a stack trace without --debug');
    const debugRuns: { args: string[]; env: Record<string, string> }[] = [
      { args: ['run', 'p.yaml', '--debug', '--force', 'd'], env: {} },
      { args: ['run', 'p.yaml', '--force', 'd'], env: { FER_DAG_DEBUG: '1' } },
    ];
    for (const { args, env } of debugRuns) {
      const debug = await runCli(dir, args, env);
      assert.equal(debug.code, 1, debug.stderr);
      const stackAfterMessage = /no image of merge has gender[^\n]*\n\s+at /;
      assert.match(debug.stdout + debug.stderr, stackAfterMessage, 'the stack follows the message');
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('an error of the system (a store path through a file) is one line naming the path; --debug adds the stack', async () => {
  const spec =
    'version: 1\nstore: p.yaml/store\nstages:\n  s: { type: command, cmd: [sh, -c, "echo hi > o.txt"], outs: [o.txt] }\n';
  const { dir, root } = makeCase({ name: 'store through a file', spec, message: /./ });
  try {
    const plain = await runCli(dir, ['run', 'p.yaml']);
    assert.equal(plain.code, 1, plain.stderr);
    assert.match(plain.stderr, /^fer-dag: ENOTDIR: not a directory, mkdir '[^']*p\.yaml\/store'\n$/);
    const debug = await runCli(dir, ['run', 'p.yaml', '--debug']);
    assert.match(debug.stderr, /ENOTDIR[^\n]*\n\s+at /);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
