// Benchmark: fer-dag vs Snakemake on a 3-stage pipeline over a folder of many small files.
// Measures the whole-process wall clock of a no-op rerun and of a rerun where only the last stage changed.
// Usage: npm run bench:engine   (BENCH_FILES=2000 for a quick run; default 70000)
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../lib/random.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = path.resolve(here, '..', '..');
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const work = path.join(repoRoot, 'bench', '.work', 'engine');
const FILES = Number(process.env.BENCH_FILES ?? 70000);
const CLASSES = 7;
const REPS = 5;

if (!Number.isInteger(FILES) || FILES < CLASSES) throw new Error(`BENCH_FILES must be an integer >= ${CLASSES}`);

function sh(cmd: string, args: string[], cwd = work): SpawnSyncReturns<string> {
  // A large buffer: a cold Snakemake run over 70,000 inputs can be chatty.
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

function ensureSnakemake(): void {
  if (sh('sh', ['-c', 'command -v snakemake'], repoRoot).status === 0) return;
  console.log('snakemake not on PATH; installing the Debian package…');
  const r = spawnSync('sh', ['-c', 'apt-get update && apt-get install -y snakemake'], { stdio: 'inherit' });
  if (r.status !== 0 || sh('sh', ['-c', 'command -v snakemake'], repoRoot).status !== 0) {
    throw new Error(
      'could not install snakemake (apt-get update && apt-get install -y snakemake failed; are we root?)',
    );
  }
}

function makeData(): void {
  const rand = seededRandom(42, 'bench/engine'); // the same bytes every run
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(work, 'data', `class${i % CLASSES}`);
    if (i < CLASSES) fs.mkdirSync(dir, { recursive: true });
    const bytes = Buffer.alloc(200);
    for (let b = 0; b < bytes.length; b++) bytes[b] = Math.floor(rand() * 256);
    fs.writeFileSync(path.join(dir, `${String(i).padStart(6, '0')}.bin`), bytes);
  }
}

// Both tools share data/ in one folder; their outputs go to out/ferdag and out/snake, their state to
// .fer-dag/ and .snakemake/, so neither sees the other's files.
function writeFerdag(label: string): void {
  fs.writeFileSync(
    path.join(work, 'pipeline.yaml'),
    `version: 1
seed: 1
stages:
  count:
    type: command
    cmd: [sh, -c, "find data -type f | wc -l > out/ferdag/count.txt"]
    deps: [data]
    outs: [out/ferdag/count.txt]
  summary:
    type: command
    cmd: [sh, -c, "cat out/ferdag/count.txt > out/ferdag/summary.txt"]
    deps: [out/ferdag/count.txt]
    outs: [out/ferdag/summary.txt]
  final:
    type: command
    cmd: [sh, -c, "echo \${params.label} $(cat out/ferdag/summary.txt) > out/ferdag/final.txt"]
    deps: [out/ferdag/summary.txt]
    outs: [out/ferdag/final.txt]
    params: { label: ${label} }
`,
  );
}

// Every file is an input of `count` (not directory("data")), so Snakemake, like fer-dag, notices an edit to any one.
const SNAKEFILE = `FILES = glob_wildcards("data/{f}").f

rule all:
    input: "out/snake/final.txt"

rule count:
    input: expand("data/{f}", f=FILES)
    output: "out/snake/count.txt"
    shell: "find data -type f | wc -l > {output}"

rule summary:
    input: "out/snake/count.txt"
    output: "out/snake/summary.txt"
    shell: "cat {input} > {output}"

rule final:
    input: "out/snake/summary.txt"
    output: "out/snake/final.txt"
    params: label=config.get("label", "a")
    shell: "echo {params.label} $(cat {input}) > {output}"
`;

interface Timed {
  seconds: number;
  out: string;
}

function timed(cmd: string, args: string[]): Timed {
  const t0 = performance.now();
  const r = sh(cmd, args);
  const seconds = (performance.now() - t0) / 1000;
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${out}`);
  return { seconds, out };
}

const ferdag = (label: string): Timed => {
  writeFerdag(label);
  return timed('node', [cli, 'run', 'pipeline.yaml']);
};
// --quiet takes optional values (progress, rules, all); keep an option right after it so nothing is read as one.
const snakemake = (label: string): Timed =>
  timed('snakemake', ['--cores', '1', '--quiet', '-s', 'Snakefile', '-d', work, '--config', `label=${label}`]);

const mtime = (rel: string): number => fs.statSync(path.join(work, rel)).mtimeMs;
const read = (rel: string): string => fs.readFileSync(path.join(work, rel), 'utf8').trim();

function expect(ok: boolean, what: string, out: string): void {
  if (!ok) throw new Error(`${what}; output was:\n${out}`);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// --- setup -------------------------------------------------------------------------------------------
ensureSnakemake();
if (!fs.existsSync(cli)) throw new Error(`${cli} is missing; build with npx tsc -p . first`);
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(path.join(work, 'out', 'ferdag'), { recursive: true });
fs.mkdirSync(path.join(work, 'out', 'snake'), { recursive: true });
const t0 = performance.now();
makeData();
console.log(
  `created ${FILES} files in ${((performance.now() - t0) / 1000).toFixed(1)} s under ${path.relative(repoRoot, work)}/data`,
);
fs.writeFileSync(path.join(work, 'Snakefile'), SNAKEFILE);

// --- cold ----------------------------------------------------------------------------------------------
const coldF = ferdag('a');
expect(/ran 3 stages/.test(coldF.out), 'fer-dag cold run did not run 3 stages', coldF.out);
const coldS = snakemake('a');
expect(read('out/snake/final.txt') === `a ${FILES}`, 'snakemake cold run wrote a wrong final.txt', coldS.out);
console.log(`cold:  fer-dag ${coldF.seconds.toFixed(2)} s, snakemake ${coldS.seconds.toFixed(2)} s`);

// --- no-op: same label as the cold run --------------------------------------------------------------
const noopF: number[] = [];
const noopS: number[] = [];
for (let i = 0; i < REPS; i++) {
  const f = ferdag('a');
  expect(f.out.includes('nothing to do'), 'fer-dag no-op rerun did something', f.out);
  noopF.push(f.seconds);
  const before = mtime('out/snake/final.txt');
  const s = snakemake('a');
  expect(
    s.out.includes('Nothing to be done') && mtime('out/snake/final.txt') === before,
    'snakemake no-op rerun did something',
    s.out,
  );
  noopS.push(s.seconds);
}

// --- one stage changed: a label never used before, so fer-dag cannot restore the result from its
// content-addressed cache (alternating a/b would be a cache hit from the second repetition on).
const oneF: number[] = [];
const oneS: number[] = [];
for (let i = 0; i < REPS; i++) {
  const label = `L${i}x${Date.now() % 100000}`;
  const f = ferdag(label);
  expect(/ran 1 stage\b/.test(f.out), `fer-dag with label=${label} did not run exactly 1 stage`, f.out);
  expect(read('out/ferdag/final.txt') === `${label} ${FILES}`, 'fer-dag wrote a wrong final.txt', f.out);
  oneF.push(f.seconds);
  const countBefore = mtime('out/snake/count.txt');
  const summaryBefore = mtime('out/snake/summary.txt');
  const s = snakemake(label);
  expect(
    read('out/snake/final.txt') === `${label} ${FILES}`,
    `snakemake with label=${label} did not rerun final`,
    s.out,
  );
  expect(
    mtime('out/snake/count.txt') === countBefore && mtime('out/snake/summary.txt') === summaryBefore,
    'snakemake reran more than the last rule',
    s.out,
  );
  oneS.push(s.seconds);
}

// --- report --------------------------------------------------------------------------------------------
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
console.log(`runs (s)  fer-dag no-op: ${fmt(noopF)} | snakemake no-op: ${fmt(noopS)}`);
console.log(`runs (s)  fer-dag one-changed: ${fmt(oneF)} | snakemake one-changed: ${fmt(oneS)}`);
const [nf, ns, of, os] = [median(noopF), median(noopS), median(oneF), median(oneS)];
console.log(
  `fer-dag no-op: ${nf.toFixed(2)} s, snakemake no-op: ${ns.toFixed(2)} s  (median of ${REPS}, ${FILES} files)`,
);
console.log(`fer-dag one-changed: ${of.toFixed(2)} s, snakemake one-changed: ${os.toFixed(2)} s`);
const noopRatio = nf / ns;
console.log(
  `target fer-dag no-op <= 0.5x snakemake: ${noopRatio <= 0.5 ? 'MET' : 'NOT MET'} (${noopRatio.toFixed(3)}x)`,
);
console.log(
  `target fer-dag no-op < 1 s: ${nf < 1 ? 'MET' : 'NOT MET'} (${nf.toFixed(2)} s)${FILES === 70000 ? '' : ` [at ${FILES} files, target is stated for 70000]`}`,
);
console.log(`noop_vs_snakemake: ${noopRatio.toFixed(3)}`);
console.log(`one_changed_vs_snakemake: ${(of / os).toFixed(3)}`);
