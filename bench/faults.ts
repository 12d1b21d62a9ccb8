// Fault injection: `npm run faults`. Kills `fer-dag run` with SIGKILL at seeded random moments and checks what
// the next run, `cache verify` and the workspace make of it; then interrupts runs with SIGINT and checks that
// each stopped in order. Prints exactly one line on stdout:
//   faults: kill9 N tried, C corrupt, W wrong, O orphans; sigint M tried, L locks left, F lockfiles missing
// and exits 1 unless C = W = O = L = F = 0. What each problem was goes to stderr, one line each.
//
// The counts, precisely:
//   N  SIGKILL trials: a fresh project, `run` killed with SIGKILL after a random delay within one clean run's
//      wall time, then `run` again (the recovery) and `cache verify`.
//   C  (corrupt) trials whose `cache verify` after the recovery exited non-zero or reported a corrupt object
//      or a dropped record: the store held a bad blob or a record whose data was gone.
//   W  (wrong) trials whose recovery did not exit 0, or whose lockfile differs from the clean reference run's
//      in any stage's key or output tree hash (or in which stages it has), or whose workspace outs (every file
//      under the command stage's out) differ in name or bytes from the reference's.
//   O  (orphans) processes still running when the recovery has exited that belong to the killed run's process
//      groups (the killed CLI's own, as the harness starts each CLI as a group leader, and those of every
//      process running in the project folder right after the kill) or run in the project folder (anything the
//      recovery left). Zombies do not count. The command leaves a `sleep 30` behind on purpose, as a daemon would.
//   M  SIGINT trials: a fresh project, `run --json` sent SIGINT after a random delay, waited for.
//   L  (locks left) SIGINT trials after which the store lock file still exists.
//   F  (lockfiles missing) stages that finished (a stage-done event in the interrupted run's output) but are
//      absent from its lockfile, or present with another key.
//
// FAULTS_SEED, FAULTS_KILL9 and FAULTS_SIGINT change the seed (17) and the trial counts (50 and 20).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../lib/random.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const cli = path.resolve(here, '..', 'cli', 'main.js');
const SEED = Number(process.env.FAULTS_SEED ?? 17);
const KILL9_TRIALS = Number(process.env.FAULTS_KILL9 ?? 50);
const SIGINT_TRIALS = Number(process.env.FAULTS_SIGINT ?? 20);
const CLI_TIMEOUT_MS = 120_000;

// Two generated sources (49 images), their merge, and a command whose background writer (a `( … ) &` child of
// its shell) and foreground loop both append to its out for about a second, and which leaves a `sleep 30`
// running when it exits.
const PIPELINE = `version: 1
seed: 17
stages:
  gray: { type: generate-faces, params: { style: fer2013, perClass: 4 } }
  colour: { type: generate-faces, params: { style: affectnet, perClass: 3, size: 48, contempt: 0 } }
  merge: { type: merge, inputs: [gray, colour] }
  lines:
    type: command
    cmd:
      - sh
      - -c
      - >-
        mkdir -p out/lines; sleep 30 </dev/null >/dev/null 2>&1 &
        (for i in $(seq 1 30); do echo bg$i >> out/lines/bg.txt; sleep 0.04; done) & writer=$!;
        for i in $(seq 1 30); do echo line$i >> out/lines/fg.txt; sleep 0.04; done; wait $writer
    outs: [out/lines]
`;
const OUTS = 'out';

interface Snapshot {
  /** stage → "key tree" from the lockfile. */
  stages: Record<string, string>;
  /** workspace out file → sha256 of its bytes. */
  outs: Record<string, string>;
}

function project(root: string, name: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'p.yaml'), PIPELINE);
  return dir;
}

function runCli(dir: string, ...args: string[]) {
  const options = { cwd: dir, encoding: 'utf8', timeout: CLI_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 } as const;
  return spawnSync(process.execPath, [cli, ...args], options);
}

interface Interrupted {
  code: number | null;
  stdout: string;
  pgid: number;
}

/** Starts the CLI as a group leader, sends `signal` after `delayMs`, resolves once it has exited. */
function interrupted(dir: string, args: string[], signal: NodeJS.Signals, delayMs: number): Promise<Interrupted> {
  const stdio: ['ignore', 'pipe', 'ignore'] = ['ignore', 'pipe', 'ignore'];
  const child = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio, detached: true });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  const timer = setTimeout(() => child.kill(signal), delayMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, pgid: child.pid! });
    }),
  );
}

function listFiles(dir: string, rel = ''): string[] {
  const abs = path.join(dir, rel);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const child = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? listFiles(dir, child) : [child];
  });
}

function snapshot(dir: string): Snapshot {
  const lockFile = path.join(dir, 'p.lock.json');
  type Locked = { stages: Record<string, { key: string; outputs: { tree: string } }> };
  const lock = fs.existsSync(lockFile) ? (JSON.parse(fs.readFileSync(lockFile, 'utf8')) as Locked) : { stages: {} };
  const stages = Object.fromEntries(Object.entries(lock.stages).map(([n, s]) => [n, `${s.key} ${s.outputs.tree}`]));
  const outDir = path.join(dir, OUTS);
  const sha256 = (rel: string) =>
    createHash('sha256')
      .update(fs.readFileSync(path.join(outDir, rel)))
      .digest('hex');
  const outs = Object.fromEntries(listFiles(outDir).map((rel) => [rel, sha256(rel)]));
  return { stages, outs };
}

function differences(what: string, actual: Record<string, string>, expected: Record<string, string>): string[] {
  const names = new Set([...Object.keys(actual), ...Object.keys(expected)]);
  return [...names]
    .filter((n) => actual[n] !== expected[n])
    .map((n) => `${what} ${n}: ${actual[n] ?? 'missing'} instead of ${expected[n] ?? 'absent'}`);
}

/** Processes (not zombies) whose working folder is `dir`, or whose process group is one of `groups`. */
function running(dir: string, groups = new Set<number>()): { pid: number; pgid: number }[] {
  const found: { pid: number; pgid: number }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      if (groups.has(Number(pgrp)) || fs.readlinkSync(`/proc/${name}/cwd`) === dir) {
        found.push({ pid: Number(name), pgid: Number(pgrp) });
      }
    } catch {
      // ended while we looked, or not ours to read
    }
  }
  return found;
}

function killAll(processes: { pid: number }[]): void {
  for (const { pid } of processes) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function main(): Promise<number> {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-faults-')));
  const problem = (trial: string, text: string) => process.stderr.write(`faults: ${trial}: ${text}\n`);
  const random = seededRandom(SEED, 'bench/faults');
  const counts = { corrupt: 0, wrong: 0, orphans: 0, locksLeft: 0, lockfilesMissing: 0 };
  try {
    const referenceDir = project(root, 'reference');
    const started = Date.now();
    const clean = runCli(referenceDir, 'run', 'p.yaml');
    const cleanMs = Date.now() - started;
    if (clean.status !== 0) throw new Error(`the clean reference run failed:\n${clean.stderr}`);
    const reference = snapshot(referenceDir);

    for (let i = 0; i < KILL9_TRIALS; i++) {
      const trial = `kill9 #${i + 1}`;
      const dir = project(root, `kill9-${i + 1}`);
      const delayMs = Math.round(random() * cleanMs);
      const killed = await interrupted(dir, ['run', 'p.yaml'], 'SIGKILL', delayMs);
      const killedGroups = new Set([killed.pgid, ...running(dir).map((p) => p.pgid)]);
      const recovery = runCli(dir, 'run', 'p.yaml');
      const orphans = running(dir, killedGroups);
      killAll(orphans);
      const verify = runCli(dir, 'cache', 'verify', 'p.yaml');
      const now = snapshot(dir);
      if (orphans.length) {
        counts.orphans += orphans.length;
        problem(trial, `killed after ${delayMs} ms; ${orphans.length} process(es) still running after the next run`);
      }
      if (verify.status !== 0 || /^\s+(corrupt|dropped)\b/m.test(verify.stdout)) {
        counts.corrupt++;
        const said = (verify.stdout + verify.stderr).trim().replace(/\n/g, ' | ');
        problem(trial, `killed after ${delayMs} ms; cache verify: ${said}`);
      }
      const wrong = [
        ...(recovery.status === 0 ? [] : [`the next run exited ${recovery.status}: ${recovery.stderr.slice(-200)}`]),
        ...differences('stage', now.stages, reference.stages),
        ...differences('out file', now.outs, reference.outs),
      ];
      if (wrong.length) {
        counts.wrong++;
        problem(trial, `killed after ${delayMs} ms; ${wrong.join('; ')}`);
      }
      if (!orphans.length && !wrong.length) fs.rmSync(dir, { recursive: true, force: true });
    }

    for (let i = 0; i < SIGINT_TRIALS; i++) {
      const trial = `sigint #${i + 1}`;
      const dir = project(root, `sigint-${i + 1}`);
      // Past the CLI's start (about a third of a clean run), so that some stages have finished.
      const delayMs = Math.round((0.3 + 0.7 * random()) * cleanMs);
      const { code, stdout } = await interrupted(dir, ['run', 'p.yaml', '--json'], 'SIGINT', delayMs);
      const lockLeft = fs.existsSync(path.join(dir, '.fer-dag', 'lock'));
      if (lockLeft) {
        counts.locksLeft++;
        problem(trial, `interrupted after ${delayMs} ms, exit ${code}: the store lock is still there`);
      }
      const locked = snapshot(dir).stages;
      type Event = { type: string; stage: string; key: string };
      const events = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Event);
      for (const { stage, key } of events.filter((e) => e.type === 'stage-done')) {
        if (locked[stage]?.split(' ')[0] !== key) {
          counts.lockfilesMissing++;
          const entry = locked[stage] ?? 'missing';
          problem(trial, `interrupted after ${delayMs} ms, exit ${code}: stage ${stage} finished; locked as ${entry}`);
        }
      }
      killAll(running(dir));
      if (!lockLeft) fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    if (fs.readdirSync(root).length <= 1) fs.rmSync(root, { recursive: true, force: true });
    else process.stderr.write(`faults: the projects with a problem are kept in ${root}\n`);
  }
  const { corrupt, wrong, orphans, locksLeft, lockfilesMissing } = counts;
  process.stdout.write(
    `faults: kill9 ${KILL9_TRIALS} tried, ${corrupt} corrupt, ${wrong} wrong, ${orphans} orphans; ` +
      `sigint ${SIGINT_TRIALS} tried, ${locksLeft} locks left, ${lockfilesMissing} lockfiles missing\n`,
  );
  return corrupt + wrong + orphans + locksLeft + lockfilesMissing === 0 ? 0 : 1;
}

process.exitCode = await main();
