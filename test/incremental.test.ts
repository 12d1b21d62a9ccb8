import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { cli, events, executedStages, makeProject, STEP_SCRIPT, takeRuns, threeStageProject } from './helpers.js';

test('a second run executes nothing and says so', async () => {
  const dir = threeStageProject();
  const first = await cli(dir, 'run', 'p.yaml');
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(takeRuns(dir), ['a', 'b', 'c']);
  assert.equal(fs.readFileSync(path.join(dir, 'out/c.txt'), 'utf8'), 'three:two:one:hello\n');

  const second = await cli(dir, 'run', 'p.yaml');
  assert.equal(second.code, 0);
  assert.deepEqual(takeRuns(dir), []);
  assert.match(second.stdout, /nothing to do: all 3 stages are fresh/);
});

test("changing one stage's params reruns that stage and its descendants only", async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  const spec = fs.readFileSync(path.join(dir, 'p.yaml'), 'utf8');
  fs.writeFileSync(path.join(dir, 'p.yaml'), spec.replace('tag: two', 'tag: TWO'));

  const result = await cli(dir, 'run', 'p.yaml', '--json');
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(takeRuns(dir), ['b', 'c']);
  const start = events(result).find((e) => e.type === 'stage-start' && e.stage === 'b');
  assert.equal(start?.reason, 'params.tag: "two" → "TWO"');
  assert.equal(fs.readFileSync(path.join(dir, 'out/c.txt'), 'utf8'), 'three:TWO:one:hello\n');
});

test('reformatting the YAML (comments, key order, quoting) reruns nothing', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  const reformatted = `# the same pipeline, written differently
stages:
  c: { outs: [out/c.txt], params: { tag: "three" }, deps: [step.mjs, out/b.txt],
       cmd: [node, step.mjs, c, out/b.txt, out/c.txt, "\${params.tag}"], type: command }
  b:
    outs: [ out/b.txt ]   # trailing comment
    type: "command"
    params: {tag: 'two'}
    cmd: [node, step.mjs, b, out/a.txt, out/b.txt, "\${params.tag}"]
    deps: [step.mjs, out/a.txt]
  a:
    type: command
    deps: [step.mjs, src.txt]
    cmd:
      - node
      - step.mjs
      - a
      - src.txt
      - out/a.txt
      - "\${params.tag}"
    outs: [out/a.txt]
    params:
      tag: one
seed: 3
version: 1
`;
  fs.writeFileSync(path.join(dir, 'p.yaml'), reformatted);
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(takeRuns(dir), []);
});

test('editing a dep file reruns every stage that reads it', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  fs.writeFileSync(path.join(dir, 'src.txt'), 'changed\n');
  await cli(dir, 'run', 'p.yaml');
  assert.deepEqual(takeRuns(dir), ['a', 'b', 'c']);

  // A new comment in the script changes it, so all stages rerun; the outputs are the same as before.
  fs.appendFileSync(path.join(dir, 'step.mjs'), '// a comment\n');
  await cli(dir, 'run', 'p.yaml');
  assert.deepEqual(takeRuns(dir), ['a', 'b', 'c']);
});

test('an out deleted from the workspace is restored from the cache, not recomputed', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  fs.rmSync(path.join(dir, 'out/b.txt'));
  fs.writeFileSync(path.join(dir, 'out/c.txt'), 'edited by hand');

  const status = await cli(dir, 'status', 'p.yaml');
  assert.match(status.stdout, /b {2}fresh \(outs missing or edited in the workspace, restored by run: out\/b.txt\)/);
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 0);
  assert.deepEqual(takeRuns(dir), []);
  assert.match(result.stdout, /fresh {4}b \(restored from cache: out\/b.txt\)/);
  assert.equal(fs.readFileSync(path.join(dir, 'out/b.txt'), 'utf8'), 'two:one:hello\n');
  assert.equal(fs.readFileSync(path.join(dir, 'out/c.txt'), 'utf8'), 'three:two:one:hello\n');
});

test('status says fresh, stale with the reason, or never run', async () => {
  const dir = threeStageProject();
  const before = await cli(dir, 'status', 'p.yaml');
  assert.match(before.stdout, /a {2}never run/);
  await cli(dir, 'run', 'p.yaml', '--stage', 'b');
  assert.deepEqual(takeRuns(dir), ['a', 'b']);
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs.readFileSync(path.join(dir, 'p.yaml'), 'utf8').replace('tag: one', 'tag: uno'),
  );
  const after = await cli(dir, 'status', 'p.yaml');
  assert.equal(after.code, 0);
  assert.match(after.stdout, /a {2}stale: params\.tag: "one" → "uno"/);
  assert.match(after.stdout, /b {2}stale: upstream a will run/);
  assert.match(after.stdout, /c {2}never run/);
});

test('a failed stage stops its descendants while an independent branch finishes; exit code 1', async () => {
  const dir = makeProject({
    'step.mjs': STEP_SCRIPT,
    'src.txt': 'x\n',
    'p.yaml': `version: 1
stages:
  broken:
    type: command
    cmd: [node, -e, "console.error('model file is corrupt'); process.exit(3)"]
    outs: [out/broken.txt]
  after-broken:
    type: command
    cmd: [node, step.mjs, after-broken, out/broken.txt, out/ab.txt, x]
    deps: [step.mjs, out/broken.txt]
    outs: [out/ab.txt]
  independent:
    type: command
    cmd: [node, step.mjs, independent, src.txt, out/i.txt, x]
    deps: [step.mjs, src.txt]
    outs: [out/i.txt]
`,
  });
  const result = await cli(dir, 'run', 'p.yaml', '--jobs', '1');
  assert.equal(result.code, 1);
  assert.deepEqual(takeRuns(dir), ['independent']);
  assert.match(
    result.stdout,
    /FAILED {3}broken \(command-failed\):\n {6}`node -e .*` exited with code 3\n {6}model file is corrupt/,
  );
  assert.match(result.stdout, /skipped {2}after-broken: upstream broken failed/);
  assert.match(result.stdout, /1 stage failed \(broken\), 1 skipped/);
});

test('independent stages run at the same time up to --jobs', async () => {
  // Each stage records when it starts and ends; two 400 ms stages with --jobs 2 overlap, with --jobs 1 they do not.
  const sleeper = `import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
const [name] = process.argv.slice(2);
appendFileSync('times.log', name + ' start ' + Date.now() + '\\n');
await new Promise((r) => setTimeout(r, 400));
appendFileSync('times.log', name + ' end ' + Date.now() + '\\n');
mkdirSync('out', { recursive: true });
writeFileSync('out/' + name, name);
`;
  const spec = (tag: string) => `version: 1
stages:
  left: { type: command, cmd: [node, sleep.mjs, left], deps: [sleep.mjs], outs: [out/left], params: { tag: ${tag} } }
  right: { type: command, cmd: [node, sleep.mjs, right], deps: [sleep.mjs], outs: [out/right], params: { tag: ${tag} } }
`;
  const overlaps = async (jobs: string, tag: string) => {
    const dir = makeProject({ 'sleep.mjs': sleeper, 'p.yaml': spec(tag) });
    const result = await cli(dir, 'run', 'p.yaml', '--jobs', jobs);
    assert.equal(result.code, 0, result.stderr);
    const t = Object.fromEntries(
      fs
        .readFileSync(path.join(dir, 'times.log'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const [name, what, at] = l.split(' ');
          return [`${name}-${what}`, Number(at)];
        }),
    );
    return t['left-start']! < t['right-end']! && t['right-start']! < t['left-end']!;
  };
  assert.equal(await overlaps('2', 'x'), true);
  assert.equal(await overlaps('1', 'y'), false);
});

test('--stage runs only that stage and what it needs; --force reruns a fresh stage', async () => {
  const dir = threeStageProject();
  const partial = await cli(dir, 'run', 'p.yaml', '--stage', 'b', '--json');
  assert.deepEqual(executedStages(partial), ['a', 'b']);
  takeRuns(dir);
  const forced = await cli(dir, 'run', 'p.yaml', '--force', 'a');
  assert.equal(forced.code, 0);
  // a reran and produced the same output, so b stays fresh; c had never run.
  assert.deepEqual(takeRuns(dir), ['a', 'c']);
  const unknown = await cli(dir, 'run', 'p.yaml', '--stage', 'zz');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--stage zz: no such stage in p\.yaml \(stages: a, b, c\)/);
});

test('--dry-run lists what would run and runs nothing', async () => {
  const dir = threeStageProject();
  await cli(dir, 'run', 'p.yaml');
  takeRuns(dir);
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs.readFileSync(path.join(dir, 'p.yaml'), 'utf8').replace('tag: three', 'tag: 3'),
  );
  const result = await cli(dir, 'run', 'p.yaml', '--dry-run');
  assert.equal(result.code, 0);
  assert.deepEqual(takeRuns(dir), []);
  assert.match(result.stdout, /fresh {5}a\n {2}fresh {5}b\n {2}would run c: params\.tag: "three" → 3/);
});

test('a command stage without outs runs every time and says why', async () => {
  const dir = makeProject({
    'step.mjs': STEP_SCRIPT,
    'src.txt': 'x\n',
    'p.yaml': `version: 1
stages:
  notify: { type: command, cmd: [node, step.mjs, notify, src.txt, tmp/n.txt, x], deps: [step.mjs, src.txt] }
`,
  });
  const first = await cli(dir, 'run', 'p.yaml');
  assert.match(first.stderr, /warning: stage "notify" declares no outs, so it cannot be cached and runs every time/);
  await cli(dir, 'run', 'p.yaml');
  assert.deepEqual(takeRuns(dir), ['notify', 'notify']);
});

test('a corrupt lockfile is reported with the fix, exit code 2', async () => {
  const dir = threeStageProject();
  fs.writeFileSync(path.join(dir, 'p.lock.json'), '{ "lockfileVersion": 1, ');
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^fer-dag: .*p\.lock\.json: not valid JSON .*; delete it and run again to rewrite it\n$/);
});
