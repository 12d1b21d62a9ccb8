import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Store } from '../cache/store.js';
import { describeCheck, evaluateChecks, type CheckOutcome } from '../engine/checks.js';
import type { EngineEvent } from '../engine/events.js';
import type { Lockfile } from '../engine/lockfile.js';
import { eventLine } from '../engine/log/lines.js';
import { runPipeline } from '../engine/scheduler.js';
import { loadPipeline } from '../engine/spec/load.js';
import { pipelineStatus } from '../engine/status.js';
import { stageRegistry, type StageDefinition } from '../engine/stage.js';
import { makeProject, writeFiles } from './helpers.js';

/**
 * Checks (gates) with stage types of the test's own: `test-measured` reports the number in its dataset's
 * count.txt as its measure `count`, `test-plain` copies its input, and `test-reader` (readsChecks) writes down
 * the check outcomes of its input. Each notes its runs in `runs`.
 */
let runs: string[] = [];

const schemaDir = makeProject();
function schema(name: string): string {
  const file = path.join(schemaDir, `${name}.schema.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      type: 'object',
      required: ['type'],
      additionalProperties: false,
      properties: {
        type: {},
        input: { type: 'string' },
        checks: { $ref: 'https://fer-dag.dev/schemas/stages/common.schema.json#/$defs/checks' },
      },
    }),
  );
  return file;
}

const measured: StageDefinition<Record<string, never>> = {
  type: 'test-measured',
  version: '1',
  schema: schema('measured'),
  params: () => ({}),
  measures: { count: 'the number in count.txt', share: 'a fixed share, 0.25' },
  async run(ctx) {
    runs.push(ctx.stage);
    const count = Number(ctx.input('values').readText('count.txt'));
    ctx.output.writeFile('count.txt', String(count));
    ctx.output.setMeasures({ share: 0.25, count });
  },
};

const plain: StageDefinition<Record<string, never>> = {
  type: 'test-plain',
  version: '1',
  schema: schema('plain'),
  params: () => ({}),
  async run(ctx) {
    runs.push(ctx.stage);
    const input = [...ctx.inputs.values()][0]!;
    ctx.output.writeJson('seen.json', { files: Object.keys(input.files), checks: input.checks ?? 'none' });
  },
};

const reader: StageDefinition<Record<string, never>> = { ...plain, type: 'test-reader', readsChecks: true };

const registry = stageRegistry([measured, plain, reader]);

function pipelineText(checks: string): string {
  return `version: 1
seed: 1
datasets:
  values: { format: files, path: values }
stages:
  measure:
    type: test-measured
    input: values
    checks:
${checks}
  below: { type: test-plain, input: measure }
  report: { type: test-reader, input: measure }
`;
}

function project(checks: string, count = 3): string {
  return makeProject({ 'values/count.txt': String(count), 'p.yaml': pipelineText(checks) });
}

async function run(dir: string) {
  const loaded = loadPipeline(path.join(dir, 'p.yaml'), registry);
  assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.diagnostics));
  const events: EngineEvent[] = [];
  runs = [];
  const summary = await runPipeline(loaded.value, new Store(loaded.value.storeDir), {
    jobs: 1,
    emit: (e) => events.push(e),
  });
  return { summary, events, runs: [...runs], pipeline: loaded.value };
}

function setChecks(dir: string, checks: string): void {
  writeFiles(dir, { 'p.yaml': pipelineText(checks) });
}

test('a failed error check stops the descendants and fails the run, naming check, value and threshold', async () => {
  const dir = project('      - { maxCount: 2 }');
  const { summary, events } = await run(dir);
  assert.equal(summary.ok, false);
  assert.deepEqual(summary.failed, ['measure']);
  assert.deepEqual(summary.skipped.sort(), ['below', 'report']);
  const failed = events.find((e) => e.type === 'stage-failed');
  assert.ok(failed && failed.type === 'stage-failed');
  assert.equal(failed.reason, 'check-failed');
  assert.equal(failed.message, 'check maxCount failed: count is 3, more than 2');
  // What `fer-dag run` prints: one line with the stage, the check, the value and the threshold; no stack.
  assert.equal(eventLine(failed), '  FAILED   measure: check maxCount failed: count is 3, more than 2');
  // The result is valid and stays stored: measures.json is in its output tree.
  const store = new Store(path.join(dir, '.fer-dag'));
  const key = summary.lock.stages.measure!.key;
  assert.equal(store.findResult(key).state, 'complete');
  const measures = summary.lock.stages.measure!.outputs.files['measures.json']!;
  assert.equal(store.readBlob(measures.hash).toString(), '{\n  "count": 3,\n  "share": 0.25\n}\n');
});

test('a warn check lets the run go on and is reported', async () => {
  const dir = project('      - { maxCount: 2, severity: warn }\n      - { minShare: 0.1 }');
  const { summary, events } = await run(dir);
  assert.equal(summary.ok, true);
  assert.deepEqual(summary.executed, ['measure', 'below', 'report']);
  const warnings = events.filter((e) => e.type === 'stage-check-warning');
  assert.equal(warnings.length, 1);
  assert.equal(eventLine(warnings[0]!), '  warning  measure: check maxCount failed: count is 3, more than 2');
});

test('changing a threshold re-evaluates the stored result; a reader reruns, a plain descendant does not', async () => {
  const dir = project('      - { maxCount: 5 }');
  const first = await run(dir);
  assert.equal(first.summary.ok, true);
  assert.deepEqual(first.runs, ['measure', 'below', 'report']);

  setChecks(dir, '      - { maxCount: 4 }');
  const tighter = await run(dir);
  assert.equal(tighter.summary.ok, true);
  // The check is no part of measure's key, nor below's; the reader's key holds its upstream's checks.
  assert.deepEqual(tighter.summary.executed, ['report']);
  assert.deepEqual(tighter.summary.fresh.sort(), ['below', 'measure']);
  const seen = (summary: typeof first.summary) => {
    const store = new Store(path.join(dir, '.fer-dag'));
    const file = summary.lock.stages.report!.outputs.files['seen.json']!;
    return (JSON.parse(store.readBlob(file.hash).toString()) as { checks: CheckOutcome[] }).checks;
  };
  assert.deepEqual(seen(tighter.summary), [
    {
      name: 'maxCount',
      measure: 'count',
      comparison: 'max',
      threshold: 4,
      severity: 'error',
      value: 3,
      passed: true,
    },
  ]);
  const plainSeen = tighter.summary.lock.stages.below!.outputs.files['seen.json']!;
  const store = new Store(path.join(dir, '.fer-dag'));
  assert.equal((JSON.parse(store.readBlob(plainSeen.hash).toString()) as { checks: unknown }).checks, 'none');

  // Too tight: nothing is recomputed, the gate fails on the stored result.
  setChecks(dir, '      - { maxCount: 1 }');
  const failing = await run(dir);
  assert.equal(failing.summary.ok, false);
  assert.deepEqual(failing.summary.executed, []);
  assert.deepEqual(failing.runs, []);
  assert.deepEqual(failing.summary.failed, ['measure']);

  // Loosened again: the reader's earlier result (threshold 4) is found, nothing runs.
  setChecks(dir, '      - { maxCount: 4 }');
  const again = await run(dir);
  assert.equal(again.summary.ok, true);
  assert.deepEqual(again.summary.executed, []);
});

test('status shows the failed gate on the fresh stage and its descendants as blocked', async () => {
  const dir = project('      - { maxCount: 10 }');
  await run(dir);
  setChecks(dir, '      - { maxCount: 2 }\n      - { minShare: 0.5, severity: warn }');
  const loaded = loadPipeline(path.join(dir, 'p.yaml'), registry);
  assert.ok(loaded.ok);
  const statuses = await pipelineStatus(loaded.value, new Store(loaded.value.storeDir));
  const measure = statuses.find((s) => s.stage === 'measure')!;
  assert.ok(measure.state === 'fresh');
  assert.deepEqual(measure.checks?.map(describeCheck), [
    'check maxCount failed: count is 3, more than 2',
    'check minShare failed: share is 0.25, less than 0.5',
  ]);
  for (const name of ['below', 'report']) {
    const status = statuses.find((s) => s.stage === name)!;
    assert.equal(status.state, 'blocked');
    assert.ok(status.state === 'blocked');
    assert.deepEqual(status.reasons, ['upstream measure: check maxCount failed: count is 3, more than 2']);
  }
});

test('the lockfile records the outcomes of a stage with checks, and nothing for one without', async () => {
  const dir = project('      - { minCount: 1, description: at least one }');
  await run(dir);
  const written = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile;
  assert.deepEqual(written.stages.measure!.checks, [
    {
      name: 'minCount',
      measure: 'count',
      comparison: 'min',
      threshold: 1,
      severity: 'error',
      description: 'at least one',
      value: 3,
      passed: true,
    },
  ]);
  assert.equal('checks' in written.stages.below!, false);
  assert.deepEqual(written.stages.report!.upstreamChecks, {
    measure: [
      {
        name: 'minCount',
        measure: 'count',
        comparison: 'min',
        threshold: 1,
        severity: 'error',
        description: 'at least one',
      },
    ],
  });
  assert.equal('upstreamChecks' in written.stages.below!, false);
});

test('an unknown measure, or an item naming no test or two, is refused at its line', () => {
  const dir = project('');
  writeFiles(dir, {
    'p.yaml': pipelineText(
      ['{ maxCount: 2 }', '{ maxFoo: 1 }', '{ severity: warn }', '{ maxCount: 1, minShare: 0 }']
        .map((item) => `      - ${item}`)
        .join('\n'),
    ).replace(
      '  below: { type: test-plain, input: measure }',
      '  below: { type: test-plain, input: measure, checks: [{ minCount: 1 }] }',
    ),
  });
  const loaded = loadPipeline(path.join(dir, 'p.yaml'), registry);
  assert.equal(loaded.ok, false);
  assert.ok(!loaded.ok);
  const found = loaded.diagnostics.map((d) => ({ code: d.code, line: d.at?.line, message: d.message }));
  const oneTest = 'must name one test, max<Measure> or min<Measure> (e.g. maxNoFaceShare: 0.02)';
  assert.deepEqual(found, [
    {
      code: 'unknown-measure',
      line: 11,
      message: 'stage "measure": check maxFoo: test-measured has no measure "foo"; it measures count, share',
    },
    {
      code: 'invalid-value',
      line: 12,
      message: `stage "measure": checks.2 ${oneTest}; it has none`,
    },
    {
      code: 'invalid-value',
      line: 13,
      message: `stage "measure": checks.3 ${oneTest}; it has 2 (maxCount, minShare)`,
    },
    {
      code: 'unknown-measure',
      line: 14,
      message: 'stage "below": check minCount: test-plain has no measure "count"; it measures nothing',
    },
  ]);
});

test('evaluateChecks: a measure the stage did not report fails its check, saying so', () => {
  const [outcome] = evaluateChecks(
    [{ name: 'maxNoFaceShare', measure: 'noFaceShare', comparison: 'max', threshold: 0.02, severity: 'warn' }],
    { other: 1 },
  );
  assert.equal(outcome!.passed, false);
  assert.equal(outcome!.value, null);
  assert.equal(describeCheck(outcome!), 'check maxNoFaceShare failed: the stage did not report noFaceShare');
});

test('setMeasures refuses a measure its stage type does not declare', async () => {
  const undeclared: StageDefinition<Record<string, never>> = {
    ...measured,
    type: 'test-undeclared',
    measures: { count: 'a count' },
    async run(ctx) {
      ctx.output.setMeasures({ count: 1, other: 2 });
    },
  };
  const dir = makeProject({ 'p.yaml': 'version: 1\nstages:\n  u: { type: test-undeclared }\n' });
  const loaded = loadPipeline(path.join(dir, 'p.yaml'), stageRegistry([undeclared]));
  assert.ok(loaded.ok);
  const events: EngineEvent[] = [];
  const summary = await runPipeline(loaded.value, new Store(loaded.value.storeDir), {
    jobs: 1,
    emit: (e) => events.push(e),
  });
  assert.equal(summary.ok, false);
  const failed = events.find((e) => e.type === 'stage-failed');
  assert.ok(failed && failed.type === 'stage-failed');
  assert.match(failed.message, /measure "other" is not declared in the stage type's measures \(it declares count\)/);
});
