import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { assertRefused, assertUntouched, makeCase, runCli, type Case } from './cli-cases.js';

/**
 * Malformed pipelines, each given to the real CLI: every one must be refused by `validate` with exit code 2, a
 * `file:line:column` and the fix, and without a stack trace; those marked `run` are also given to `run`, which
 * must refuse them the same way and touch nothing.
 */

const HEAD = 'version: 1\nstages:\n';
/** A command stage writing `outs` (a flow list written as is). */
const command = (outs: string, more = '') =>
  `${HEAD}  s:\n    type: command\n    cmd: [sh, -c, "true"]\n    outs: ${outs}\n${more}`;
const faces = (params = '{ style: fer2013, perClass: 2, size: 48 }') =>
  `  faces:\n    type: generate-faces\n    params: ${params}\n`;
const merged = `${faces()}  merge:\n    type: merge\n    inputs: [faces]\n`;
const SEVENTY = 'train: 0.5, val: 0.1, test: 0.1';
const AGR = '  agr:\n    type: agr\n    input: merge\n';
const withData = (dataset: string, stages: string) => `version: 1\ndatasets:\n${dataset}stages:\n${stages}`;
const folders = (more = '') => `  src:\n    format: folders\n    path: data\n${more}`;
const readsSrc = '  m:\n    type: merge\n    inputs: [src]\n';
const makeData = (dir: string) => fs.mkdirSync(path.join(dir, 'data', 'happy'), { recursive: true });

/** YAML nested `depth` levels deep as block mappings, one more space of indentation per level. */
function blockNesting(depth: number): string {
  let text = command('[o.txt]', '    params:\n');
  for (let i = 0; i < depth; i++) text += `${' '.repeat(6 + i)}k:\n`;
  return `${text}${' '.repeat(6 + depth)}x: 1\n`;
}

/** A mapping's body of `count` keys, each with a small flow value. */
const manyKeys = (count: number) =>
  Array.from({ length: count }, (_, i) => `      k${i}: [${i}, "value ${i}", { a: ${i} }]\n`).join('');

/** The "billion laughs": each alias names nine of the previous level. */
function aliasBomb(): string {
  let text = 'version: 1\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
  for (let i = 1; i < 10; i++)
    text += `l${i}: &l${i} [${Array(9)
      .fill(`*l${i - 1}`)
      .join(', ')}]\n`;
  return `${text}stages:\n  s: { type: command, cmd: [x] }\n`;
}

const CASES: Case[] = [
  // Item 1: outs that would delete what is not theirs.
  {
    name: 'outs [..], the parent folder',
    spec: command('[..]'),
    at: '6:12',
    message: /"\.\." leaves the pipeline's folder/,
    run: true,
  },
  {
    name: 'outs [.], the project itself',
    spec: command('[.]'),
    at: '6:12',
    message: /"\." is the pipeline's folder itself/,
    run: true,
  },
  { name: 'outs [./]', spec: command('["./"]'), message: /is the pipeline's folder itself/ },
  { name: 'outs [../../]', spec: command('[../../]'), message: /leaves the pipeline's folder/, run: true },
  { name: 'an absolute out', spec: command('[/tmp/fer-dag-absolute-out]'), message: /is an absolute path/, run: true },
  { name: 'outs [../../etc/x]', spec: command('[../../etc/x]'), message: /leaves the pipeline's folder/ },
  {
    name: 'an out climbing out through sub/../..',
    spec: command('[sub/../../x]'),
    message: /leaves the pipeline's folder/,
  },
  { name: 'a blank out', spec: command('[" "]'), message: /" " is empty/ },
  {
    name: 'an out through a symlink to a folder outside',
    spec: command('[link/x]'),
    run: true,
    setup: (dir, outside) => fs.symlinkSync(outside, path.join(dir, 'link')),
    message: /reaches .* through a symlink, outside the pipeline's folder/,
  },
  {
    name: 'an out that is a symlink to a folder outside',
    spec: command('[link]'),
    setup: (dir, outside) => fs.symlinkSync(outside, path.join(dir, 'link')),
    message: /through a symlink, outside/,
  },
  {
    name: 'an out through a symlink to the project itself',
    spec: command('[self]'),
    setup: (dir) => fs.symlinkSync(dir, path.join(dir, 'self')),
    message: /is the pipeline's folder itself, through a symlink/,
  },
  {
    name: 'an out through a dangling symlink',
    spec: command('[gone/x]'),
    setup: (dir) => fs.symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'gone')),
    message: /goes through a symlink that points nowhere/,
  },
  { name: 'an out that is the store', spec: command('[.fer-dag]'), message: /is the store \(\.fer-dag\)/, run: true },
  { name: 'an out inside the store', spec: command('[.fer-dag/objects]'), message: /lies inside the store/ },
  {
    name: 'an out holding the store',
    spec: command('[build]').replace('stages:', 'store: build/cache\nstages:'),
    message: /holds the store \(build\/cache\)/,
  },
  { name: 'an out that is the pipeline file', spec: command('[p.yaml]'), message: /is the pipeline file/, run: true },
  {
    name: 'a store that is a file',
    spec: command('[o.txt]').replace('stages:', 'store: notes.txt\nstages:'),
    setup: (dir) => fs.writeFileSync(path.join(dir, 'notes.txt'), 'notes'),
    at: '2:8',
    message: /store: notes\.txt is a file, not a folder/,
  },
  { name: 'an out that is the lockfile', spec: command('[p.lock.json]'), message: /is the pipeline's lockfile/ },
  {
    name: 'an out that is a source dataset',
    spec: withData(folders(), `${readsSrc}  s:\n    type: command\n    cmd: [x]\n    outs: [data]\n`),
    setup: makeData,
    at: '13:12',
    message: /holds source dataset "src" \(data\)|is source dataset "src"/,
    run: true,
  },
  {
    name: 'an out inside a source dataset',
    spec: withData(folders(), `${readsSrc}  s:\n    type: command\n    cmd: [x]\n    outs: [data/happy/x.png]\n`),
    setup: makeData,
    message: /lies inside source dataset "src"/,
  },
  // ${VAR} in paths.
  {
    name: 'an unset variable in a dataset path',
    spec: withData('  src:\n    format: folders\n    path: ${FER_DAG_TEST_NEVER_SET}/data\n', readsSrc),
    at: '5:11',
    message: /\$\{FER_DAG_TEST_NEVER_SET\}, but the environment variable FER_DAG_TEST_NEVER_SET is not set/,
  },
  {
    name: 'an unset variable in the middle of a path',
    spec: withData('  src:\n    format: folders\n    path: "pre/${FER_DAG_TEST_NEVER_SET}/x"\n', readsSrc),
    at: '5:16',
    message: /FER_DAG_TEST_NEVER_SET is not set/,
  },
  {
    name: 'an empty variable without a default',
    spec: withData('  src:\n    format: folders\n    path: ${FER_DAG_TEST_EMPTY}/data\n', readsSrc),
    env: { FER_DAG_TEST_EMPTY: '' },
    message: /FER_DAG_TEST_EMPTY is not set \(or empty\); set it, or give a default/,
  },
  // Numbers.
  {
    name: 'perClass: 1e400 (Infinity)',
    spec: withData(folders('    downsample: { perClass: 1e400 }\n'), readsSrc),
    setup: makeData,
    at: '6:29',
    message: /datasets\.src\.downsample\.perClass is 1e400, which is not a finite number/,
    run: true,
  },
  {
    name: 'perClass: .inf',
    spec: withData(folders('    downsample: { perClass: .inf }\n'), readsSrc),
    setup: makeData,
    message: /is \.inf, which is not a finite number/,
  },
  {
    name: 'perClass: .nan',
    spec: withData(folders('    downsample: { perClass: .nan }\n'), readsSrc),
    setup: makeData,
    message: /is \.nan, which is not a finite/,
  },
  {
    name: 'generate-faces perClass: 2000000000',
    spec: HEAD + faces('{ style: fer2013, perClass: 2000000000 }'),
    at: '5:41',
    message: /perClass must be <= 50000/,
    run: true,
  },
  {
    name: 'merge downsample perClass: 2000000000',
    spec: `${HEAD}${merged}    params: { downsample: { faces: { perClass: 2000000000 } } }\n`,
    message: /perClass must be <= 1000000/,
  },
  {
    name: 'perClass: 1.5',
    spec: HEAD + faces('{ style: fer2013, perClass: 1.5 }'),
    message: /perClass must be integer/,
  },
  {
    name: 'a negative seed',
    spec: command('[o.txt]').replace('version: 1\n', 'version: 1\nseed: -1\n'),
    at: '2:7',
    message: /seed must be >= 0/,
  },
  {
    name: 'seed: 1e400',
    spec: command('[o.txt]').replace('version: 1\n', 'version: 1\nseed: 1e400\n'),
    message: /seed is 1e400, which is not a finite number/,
  },
  {
    name: 'an infinite command param',
    spec: command('[o.txt]', '    params: { rate: -.inf }\n'),
    message: /stages\.s\.params\.rate is -\.inf, which is not a finite/,
  },
  {
    name: 'train epochs: 0',
    spec: `${HEAD}${merged}  t:\n    type: train\n    input: merge\n    params: { epochs: 0 }\n`,
    message: /epochs must be >= 1/,
  },
  {
    name: 'train epochs: 10000000',
    spec: `${HEAD}${merged}  t:\n    type: train\n    input: merge\n    params: { epochs: 10000000 }\n`,
    message: /epochs must be <= 10000/,
  },
  {
    name: 'a learning rate of 1e400',
    spec: `${HEAD}${merged}  t:\n    type: train\n    input: merge\n    params: { learningRate: 1e400 }\n`,
    message: /learningRate is 1e400/,
  },
  {
    name: 'a number written as a string',
    spec: `${HEAD}${merged}  t:\n    type: train\n    input: merge\n    params: { batchSize: "64" }\n`,
    message: /batchSize must be integer/,
  },
  // Fields that do not fit together, inputs of the wrong kind.
  {
    name: 'a split that sums to 0.7',
    run: true,
    spec: `${HEAD}${merged}${AGR}  d:\n    type: distribute\n    input: agr\n    params: { split: { ${SEVENTY} } }\n`,
    at: '15:22',
    message: /stages\.d\.params\.split adds up to 0\.7, not 1 \(train 0\.5, val 0\.1, test 0\.1\); make the/,
  },
  {
    name: 'age buckets that do not rise',
    spec: `${HEAD}${merged}${AGR}    params: { ageBuckets: { young: 40, adult: 30 } }\n`,
    message: /ageBuckets must rise: young 40 < adult 30/,
  },
  {
    name: 'a command synthesizer without its command',
    spec: `${HEAD}  art:\n    type: synthesize\n    params: { synthesizer: { type: command } }\n`,
    message: /synthesizer has type command but no command/,
  },
  {
    name: 'a merge of a command stage',
    run: true,
    spec: `${HEAD}  c:\n    type: command\n    cmd: [x]\n    outs: [o]\n  m:\n    type: merge\n    inputs: [c]\n`,
    at: '9:14',
    message: /stages\.m\.inputs\.0: "c" is a command stage, which gives files; merge's inputs take a source dataset/,
  },
  {
    name: 'a train stage reading a source dataset',
    spec: withData(folders(), '  t:\n    type: train\n    input: src\n'),
    setup: makeData,
    message: /"src" is a source dataset; train's input takes a dataset \(manifest\.jsonl\)/,
  },
  {
    name: 'a train stage reading generate-faces',
    spec: `${HEAD}${faces()}  t:\n    type: train\n    input: faces\n`,
    message: /"faces" is a generate-faces stage, which gives a source of images/,
  },
  {
    name: 'cross-evaluate models that are no models',
    spec: `${HEAD}${merged}  x:\n    type: cross-evaluate\n    input: merge\n    models: [merge]\n`,
    message: /stages\.x\.models\.0: "merge" is a merge stage.*take a model \(train\)/,
  },
  {
    name: 'a report of a command stage',
    spec: `${HEAD}  c:\n    type: command\n    cmd: [x]\n  r:\n    type: report\n    inputs: [c]\n`,
    message: /"c" is a command stage/,
  },
  // The graph and the schema.
  {
    name: 'a cycle',
    spec: `${HEAD}  a: { type: command, cmd: [x], inputs: [b] }\n  b: { type: command, cmd: [x], inputs: [a] }\n`,
    message: /the stages form a cycle/,
  },
  {
    name: 'a stage reading itself',
    spec: `${HEAD}  a: { type: command, cmd: [x], inputs: [a] }\n`,
    at: '3:42',
    message: /names itself as an input/,
  },
  {
    name: 'an unknown stage type',
    spec: `${HEAD}  a: { type: mrege, inputs: [] }\n`,
    message: /unknown stage type "mrege"; did you mean "merge"/,
  },
  {
    name: 'an unknown stage field',
    spec: command('[o.txt]', '    outz: [x]\n'),
    at: '7:5',
    message: /unknown property "outz"; did you mean "outs"/,
  },
  {
    name: 'an unknown top-level field',
    spec: `${command('[o.txt]')}stagse: {}\n`,
    message: /unknown property "stagse"/,
  },
  { name: 'no stages', spec: 'version: 1\n', at: '1:1', message: /missing required property "stages"/ },
  {
    name: 'version 2',
    spec: command('[o.txt]').replace('version: 1', 'version: 2'),
    at: '1:10',
    message: /version must be 1/,
  },
  { name: 'stages as a list', spec: 'version: 1\nstages: [a, b]\n', message: /stages must be object/ },
  {
    name: 'a cmd that is a string',
    spec: `${HEAD}  a: { type: command, cmd: "echo hi" }\n`,
    message: /stages\.a\.cmd must be array/,
  },
  {
    name: 'a stage name starting with a digit',
    spec: `${HEAD}  1a: { type: command, cmd: [x] }\n`,
    message: /"1a" is not a valid name/,
  },
  {
    name: 'a dataset and a stage of one name',
    spec: withData(folders(), '  src: { type: command, cmd: [x] }\n'),
    setup: makeData,
    message: /names both a dataset and a stage/,
  },
  {
    name: 'a duplicate perClass key',
    spec: withData(folders('    downsample:\n      perClass: 5\n      perClass: 6\n'), readsSrc),
    setup: makeData,
    at: '8:7',
    message: /datasets\.src\.downsample: duplicate key "perClass"/,
  },
  {
    name: 'a stage named twice',
    spec: `${command('[o.txt]')}  s: { type: command, cmd: [y] }\n`,
    at: '7:3',
    message: /stages: duplicate key "s"/,
  },
  {
    name: 'an input naming nothing',
    spec: `${HEAD}  a: { type: command, cmd: [x], inputs: [nope] }\n`,
    message: /no stage or dataset is named "nope"/,
  },
  {
    name: 'a dep that does not exist',
    spec: `${HEAD}  a: { type: command, cmd: [x], deps: [nothing.txt] }\n`,
    message: /"nothing\.txt" does not exist/,
  },
  {
    name: 'two stages owning one out',
    spec: `${command('[o.txt]')}  t: { type: command, cmd: [y], outs: [o.txt] }\n`,
    message: /overlaps "o\.txt"/,
  },
  {
    name: 'a dataset that is not there',
    spec: withData(folders(), readsSrc),
    message: /dataset "src": data \(beside the pipeline file\) does not exist/,
  },
  {
    name: 'an unknown dataset format',
    spec: withData('  src: { format: csv, path: data }\n', readsSrc),
    setup: makeData,
    message: /format must be one of/,
  },
  // YAML and the file itself.
  {
    name: 'a "billion laughs" alias bomb',
    spec: aliasBomb(),
    at: '3:10',
    message: /aliases \(\*name\) expand to too many nodes \(fer-dag's limit: 100/,
    run: true,
  },
  {
    name: 'an alias of nothing',
    spec: `${HEAD}  a: { type: command, cmd: *nothing }\n`,
    message: /alias \*nothing names no anchor/,
  },
  {
    name: '20,000-deep flow nesting',
    spec: command('[o.txt]', `    params: { a: ${'['.repeat(20_000)}${']'.repeat(20_000)} }\n`),
    at: '7:78',
    message: /nests deeper than 64 levels \(fer-dag's depth limit/,
    run: true,
  },
  { name: '600-deep block nesting', spec: blockNesting(600), message: /nests deeper than 64 levels/ },
  { name: '65-deep block nesting', spec: blockNesting(65), message: /nests deeper than 64 levels/ },
  {
    name: '5,000 nested sequences on one line',
    spec: `${command('[o.txt]')}    deps:\n${'- '.repeat(5000)}x\n`.replace('    deps:\n', '    deps:\n      '),
    message: /nests deeper than 64 levels/,
  },
  {
    name: 'a 50 MB pipeline',
    spec: Buffer.concat([Buffer.from(command('[o.txt]')), Buffer.alloc(50 * 1024 * 1024, '# padding\n')]),
    at: '1:1',
    message: /p\.yaml is 50\.0 MiB; a pipeline file may be at most 256\.0 KiB/,
  },
  {
    name: 'a key twice in a mapping of 5,000 keys (quadratic in the yaml library)',
    at: '5008:7',
    message: /stages\.s\.params: duplicate key "k7"/,
    spec: command('[o.txt]', `    params:\n${manyKeys(5000)}      k7: 0\n`),
  },
  {
    name: 'a folder',
    target: 'pipelines',
    setup: (dir) => fs.mkdirSync(path.join(dir, 'pipelines', 'a.yaml'), { recursive: true }),
    message: /pipelines is a folder, not a pipeline file; pass one of its pipeline files: pipelines\/a\.yaml/,
  },
  {
    name: 'an empty folder',
    target: 'empty',
    setup: (dir) => fs.mkdirSync(path.join(dir, 'empty')),
    message: /empty is a folder, not a pipeline file; it holds no \.yaml file/,
  },
  {
    name: 'a binary file',
    spec: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
    at: '3:1',
    message: /p\.yaml is a binary file \(a NUL byte here\)/,
  },
  {
    name: 'an empty file',
    spec: '',
    at: '1:1',
    message: /p\.yaml is empty; a pipeline has at least "version: 1"/,
    run: true,
  },
  {
    name: 'a file of comments only',
    spec: '# nothing yet\n\n# still nothing\n',
    at: '1:1',
    message: /p\.yaml is empty/,
  },
  {
    name: 'a Latin-1 file',
    spec: Buffer.concat([Buffer.from(command('[o.txt]', '    description: caf')), Buffer.from([0xe9, 0x0a])]),
    at: '7:21',
    message: /p\.yaml is not UTF-8 text \(an invalid byte here\); save the pipeline as UTF-8/,
  },
  { name: 'a document that is a string', spec: 'hello\n', message: /the pipeline must be object/ },
  { name: 'a syntax error', spec: command('[o.txt'), message: /YAML syntax error/ },
  { name: 'tabs for indentation', spec: `${HEAD}\ts: { type: command, cmd: [x] }\n`, message: /YAML syntax error/ },
  {
    name: 'two documents in one file',
    spec: `${command('[o.txt]')}---\n${command('[p.txt]')}`,
    message: /YAML syntax error/,
  },
];

test('the table holds at least 60 malformed pipelines', () => assert.ok(CASES.length >= 60, String(CASES.length)));

const TITLE = 'every malformed pipeline is refused with exit 2, file:line:column and no stack trace';
describe(TITLE, { concurrency: 6 }, () => {
  for (const c of CASES) {
    test(`${c.name}`, async () => {
      const { dir, root, outside } = makeCase(c);
      try {
        const target = c.target ?? 'p.yaml';
        const validated = await runCli(dir, ['validate', target], c.env);
        assertRefused(c, validated, target);
        assert.equal(validated.stdout, '');
        // A bound for a busy machine: the 50 MB file once took 13 s; refused by its size, it takes well under one.
        assert.ok(validated.ms < 20_000, `validate took ${validated.ms} ms`);
        if (c.run) {
          const ran = await runCli(dir, ['run', target], c.env);
          assertRefused(c, ran, target);
          assert.equal(fs.existsSync(path.join(dir, 'p.lock.json')), false, 'run wrote a lockfile');
        }
        assertUntouched(root, outside);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
