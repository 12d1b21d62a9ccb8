import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { cli, events, makeProject, takeRuns, THREE_STAGES, threeStageProject, type CliResult } from './helpers.js';

async function run(dir: string): Promise<CliResult> {
  const result = await cli(dir, 'run', 'p.yaml', '--json');
  assert.equal(result.code, 0, result.stderr);
  return result;
}

function executed(result: CliResult): unknown {
  return events(result).find((e) => e.type === 'run-done')?.executed;
}

function lockText(dir: string): string {
  return fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8');
}

/** Fails unless the keys of every object, at every depth, are in sorted order. */
function assertSortedDeep(value: unknown, at = '(top)'): void {
  if (Array.isArray(value)) value.forEach((v, i) => assertSortedDeep(v, `${at}[${i}]`));
  else if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    assert.deepEqual(keys, [...keys].sort(), `keys of ${at} are not sorted`);
    for (const k of keys) assertSortedDeep((value as Record<string, unknown>)[k], `${at}.${k}`);
  }
}

/** A command stage whose output is a fresh random number on every run: the same key, different bytes. */
const RANDOM = `version: 1
seed: 5
stages:
  r:
    type: command
    cmd: [node, -e, "require('fs').writeFileSync('out/r.txt', String(Math.random()))"]
    outs: [out/r.txt]
  fixed:
    type: command
    cmd: [node, -e, "require('fs').writeFileSync('out/f.txt', 'same every time')"]
    outs: [out/f.txt]
`;

describe('the lockfile', () => {
  test('is byte-identical after a second run that executes nothing, even when a dep was touched', async () => {
    const dir = threeStageProject();
    await run(dir);
    assert.deepEqual(takeRuns(dir), ['a', 'b', 'c']);
    const first = lockText(dir);

    assert.deepEqual(executed(await run(dir)), []);
    assert.deepEqual(takeRuns(dir), []);
    assert.equal(lockText(dir), first);

    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(dir, 'src.txt'), later, later);
    assert.deepEqual(executed(await run(dir)), []);
    assert.equal(lockText(dir), first);
  });

  test('is sorted at every depth, pretty-printed, and holds no timestamps or machine paths', async () => {
    const dir = threeStageProject();
    await run(dir);
    const text = lockText(dir);
    const lock = JSON.parse(text) as { stages: Record<string, Record<string, unknown>> };
    assertSortedDeep(lock);
    assert.deepEqual(Object.keys(lock), ['datasets', 'lockfileVersion', 'pipeline', 'seed', 'stages']);
    assert.deepEqual(Object.keys(lock.stages), ['a', 'b', 'c']);
    assert.deepEqual(Object.keys(lock.stages.a!), [
      'datasets',
      'deps',
      'inputs',
      'key',
      'models',
      'outputs',
      'params',
      'seed',
      'type',
      'version',
    ]);
    assert.deepEqual(Object.keys(lock.stages.a!.outputs as object), ['files', 'tree']);
    assert.equal(text, `${JSON.stringify(lock, null, 2)}\n`);
    assert.doesNotMatch(text, /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
    assert.doesNotMatch(text, /finishedAt|durationMs/);
    assert.ok(!text.includes(dir) && !text.includes(fs.realpathSync(dir)), 'the lockfile names the project folder');
    assert.deepEqual(lock.stages.b!.params, {
      cmd: ['node', 'step.mjs', 'b', 'out/a.txt', 'out/b.txt', '${params.tag}'],
      env: {},
      outs: ['out/b.txt'],
      params: { tag: 'two' },
    });
  });
});

describe('fer-dag audit of two lockfiles', () => {
  test('two copies run with the same pipeline and seed have no differences', async () => {
    const a = threeStageProject();
    const b = threeStageProject();
    await run(a);
    await run(b);
    assert.equal(lockText(a), lockText(b));
    const result = await cli(a, 'audit', 'p.lock.json', path.join(b, 'p.lock.json'));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.ok(result.stdout.endsWith('no differences (3 compared)\n'), result.stdout);
  });

  test('a changed param is named with its old and new value, and the stages below it are changed through their dep', async () => {
    const a = threeStageProject();
    const b = threeStageProject();
    fs.writeFileSync(path.join(b, 'p.yaml'), THREE_STAGES.replace('tag: one', 'tag: uno'));
    await run(a);
    await run(b);
    const result = await cli(a, 'audit', 'p.lock.json', path.join(b, 'p.lock.json'));
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const lines = result.stdout.split('\n').slice(2);
    assert.deepEqual(lines, [
      '  stage a: changed',
      '      params.tag: "one" → "uno"',
      '  stage b: changed',
      '      dep out/a.txt changed',
      '  stage c: changed',
      '      dep out/b.txt changed',
      '3 differences, 0 same',
      '',
    ]);
  });

  test('the same key with different outputs is reported as NON-DETERMINISTIC', async () => {
    const a = makeProject({ 'p.yaml': RANDOM });
    const b = makeProject({ 'p.yaml': RANDOM });
    await run(a);
    await run(b);
    const [la, lb] = [a, b].map((d) => JSON.parse(lockText(d)) as { stages: Record<string, { key: string }> });
    assert.equal(la!.stages.r!.key, lb!.stages.r!.key);
    const result = await cli(a, 'audit', 'p.lock.json', path.join(b, 'p.lock.json'), '--all');
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      / {2}stage r: NON-DETERMINISTIC\n {6}same key, different outputs\n {6}out\/r\.txt: [0-9a-f]{12} → [0-9a-f]{12}\n/,
    );
    assert.ok(result.stdout.includes('  stage fixed: same\n'), result.stdout);
    assert.ok(result.stdout.endsWith('1 difference, 1 same; not deterministic: r\n'), result.stdout);

    const json = await cli(a, 'audit', 'p.lock.json', path.join(b, 'p.lock.json'), '--json');
    const findings = (JSON.parse(json.stdout) as { findings: { subject: string; kind: string }[] }).findings;
    assert.deepEqual(
      findings.map((f) => [f.subject, f.kind]),
      [
        ['stage fixed', 'same'],
        ['stage r', 'non-deterministic'],
      ],
    );
  });
});

describe('fer-dag audit of one lockfile against its store', () => {
  test('after a run every stage is the same as in the store', async () => {
    const dir = threeStageProject();
    await run(dir);
    const result = await cli(dir, 'audit', 'p.lock.json', '--all');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(
      result.stdout,
      'p.lock.json against its store\n  stage a: same\n  stage b: same\n  stage c: same\nno differences (3 compared)\n',
    );
  });

  test('with the stage records deleted, every stage is reported missing from the store', async () => {
    const dir = threeStageProject();
    await run(dir);
    const runs = path.join(dir, '.fer-dag', 'runs');
    const records = fs.readdirSync(runs).filter((f) => f.endsWith('.json'));
    assert.equal(records.length, 3);
    for (const f of records) fs.rmSync(path.join(runs, f));
    const result = await cli(dir, 'audit', 'p.lock.json');
    assert.equal(result.code, 1, result.stdout + result.stderr);
    for (const stage of ['a', 'b', 'c']) {
      assert.ok(
        result.stdout.includes(
          `  stage ${stage}: missing from store\n      no record for its key: the next run recomputes it\n`,
        ),
        result.stdout,
      );
    }
    assert.ok(result.stdout.endsWith('3 differences, 0 same\n'), result.stdout);
  });
});
