import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { makeProject } from './helpers.js';

// The import-boundary check as `npm run lint` runs it: dependency-cruiser's CLI with the repository's config.
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPCRUISE = path.join(REPO, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = path.join(REPO, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** `rule: from → to` for each violation dependency-cruiser finds under `dir`, sorted. */
async function violations(dir: string): Promise<string[]> {
  const args = [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', '.'];
  const run = await execa(process.execPath, args, { cwd: dir, reject: false });
  assert.ok(run.stdout.startsWith('{'), `dependency-cruiser ran (exit ${run.exitCode}): ${run.stderr}`);
  const found = (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
  return [...new Set(found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`))].sort();
}

test('the repository keeps its import boundaries', async () => {
  const found = await violations(REPO);
  assert.deepEqual(found, [], `import-boundary violations:\n${found.join('\n')}`);
});

// A small project in the repository's layout. The allowed imports first: the CLI imports anything, the registry
// every stage, a stage the libraries and the contract, a library the contract's types, serve the engine.
const ALLOWED: Record<string, string[]> = {
  'tsconfig.json': ['{ "compilerOptions": { "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true } }'],
  'lib/random.ts': ['export const seed = 1;'],
  'cache/store.ts': ["import { seed } from '../lib/random.js';", 'export const store = seed;'],
  'engine/stage.ts': [
    "import { store } from '../cache/store.js';",
    'export interface Stage { type: string }',
    'export const contractVersion = store;',
  ],
  'engine/paths.ts': ['export const toPosix = (p: string) => p;'],
  'datasets/vocabulary.ts': ["export const EMOTIONS = ['happy'];"],
  'datasets/manifest.ts': [
    "import type { Stage } from '../engine/stage.js';",
    "import { EMOTIONS } from './vocabulary.js';",
    'export const m: Stage = { type: EMOTIONS[0]! };',
  ],
  'ml/train.ts': ["import { type Stage } from '../engine/stage.js';", "export const t: Stage = { type: 'train' };"],
  'report/colors.ts': ["export const RED = '#f00';"],
  'synth/faces.ts': ['export const face = 1;'],
  'stages/command/stage.ts': ['export const command = 1;'],
  'stages/b/stage.ts': [
    "import type { Stage } from '../../engine/stage.js';",
    "import { EMOTIONS } from '../../datasets/vocabulary.js';",
    'export const b: Stage = { type: EMOTIONS[0]! };',
  ],
  'stages/registry.ts': [
    "import { a } from './a/stage.js';",
    "import { b } from './b/stage.js';",
    'export const registry = [a, b];',
  ],
  'serve/format.ts': ['export const format = 1;'],
  'remote/transfer.ts': ["import { store } from '../cache/store.js';", 'export const push = store;'],
  'test/helpers.ts': ["import { EMOTIONS } from '../datasets/vocabulary.js';", 'export const helper = EMOTIONS;'],
};

// Then one wrong import per file, each named with the rule it breaks (the registry import breaks two).
const WRONG: Record<string, string[]> = {
  'engine/scheduler.ts': ["import { command } from '../stages/command/stage.js';", 'export const s = command;'],
  'ml/examples.ts': ["import { registry } from '../stages/registry.js';", 'export const e = registry;'],
  'stages/a/stage.ts': ["import { b } from '../b/stage.js';", 'export const a = b;'],
  'stages/a/report.ts': ["import { format } from '../../serve/format.js';", 'export const r = format;'],
  'ml/fit.ts': ["import { RED } from '../report/colors.js';", 'export const f = RED;'],
  'datasets/attributes.ts': ["import { face } from '../synth/faces.js';", 'export const at = face;'],
  'synth/sheet.ts': ["import { RED } from '../report/colors.js';", 'export const sh = RED;'],
  'synth/render.ts': ["import { contractVersion } from '../engine/stage.js';", 'export const v = contractVersion;'],
  'synth/paths.ts': ["import { toPosix } from '../engine/paths.js';", 'export const p = toPosix;'],
  'serve/server.ts': [
    "import { b } from '../stages/b/stage.js';",
    "import { toPosix } from '../engine/paths.js';",
    'export const sv = [b, toPosix];',
  ],
  'serve/debug.ts': ["import { helper } from '../test/helpers.js';", 'export const d = helper;'],
  'bench/run.ts': ["import { helper } from '../test/helpers.js';", 'export const run = helper;'],
  'cli/main.ts': [
    "import { registry } from '../stages/registry.js';",
    "import { run } from '../bench/run.js';",
    'export const main = [registry, run];',
  ],
  'lib/pool.ts': ["import { RED } from '../report/colors.js';", 'export const pool = RED;'],
  'datasets/split.ts': ["import { labels } from './labels.js';", 'export const split = () => labels;'],
  'datasets/labels.ts': ["import { split } from './split.js';", 'export const labels = () => split;'],
  'cache/maintenance.ts': ["import { toPosix } from '../engine/paths.js';", 'export const gc = toPosix;'],
  'engine/typo.ts': ["import { nothing } from './no-such-file.js';", 'export const typo = nothing;'],
  'remote/config.ts': ["import { EMOTIONS } from '../datasets/vocabulary.js';", 'export const c = EMOTIONS;'],
};

/** A temporary project with these files, each given as its lines. */
function project(files: Record<string, string[]>): string {
  return makeProject(Object.fromEntries(Object.entries(files).map(([file, lines]) => [file, `${lines.join('\n')}\n`])));
}

test('each boundary rule fails on a wrong import, and only there', async () => {
  const dir = project({ ...ALLOWED, ...WRONG });
  assert.deepEqual(await violations(dir), [
    'bench-not-test: bench/run.ts → test/helpers.ts',
    'datasets-not-upward: datasets/attributes.ts → synth/faces.ts',
    'engine-knows-no-plugins: engine/scheduler.ts → stages/command/stage.ts',
    'lib-is-the-floor: lib/pool.ts → report/colors.ts',
    'libraries-not-up: ml/examples.ts → stages/registry.ts',
    'libraries-take-only-the-contract: synth/paths.ts → engine/paths.ts',
    'libraries-take-the-contract-as-types: synth/render.ts → engine/stage.ts',
    'ml-not-upward: ml/fit.ts → report/colors.ts',
    'no-file-cycles: datasets/labels.ts → datasets/split.ts', // a cycle is named once, from one of its files
    'no-folder-cycles: cache → engine',
    'no-folder-cycles: engine → cache',
    'no-stage-imports-another: stages/a/stage.ts → stages/b/stage.ts',
    'nothing-imports-bench: cli/main.ts → bench/run.ts',
    'nothing-imports-test: serve/debug.ts → test/helpers.ts',
    'only-the-cli-loads-the-registry: ml/examples.ts → stages/registry.ts',
    'remote-knows-no-faces: remote/config.ts → datasets/vocabulary.ts',
    'resolvable: engine/typo.ts → ./no-such-file.js',
    'serve-no-stages: serve/server.ts → stages/b/stage.ts',
    'stages-not-up: stages/a/report.ts → serve/format.ts',
    'synth-not-upward: synth/sheet.ts → report/colors.ts',
  ]);
});

test('the same project without its wrong imports passes', async () => {
  const dir = project({ ...ALLOWED, 'stages/a/stage.ts': ['export const a = 1;'] });
  assert.deepEqual(await violations(dir), []);
});
