// Benchmark: fer-dag's merge stage vs Python PIL doing the same work per image: read the bytes, sha256 them,
// decode, convert to gray, resize to 48×48, encode PNG, sha256 the PNG and store it by its hash (fer-dag
// keeps every output in its content-addressed store, so the peer writes its outputs too).
// Fixtures: 20,000 48×48 gray JPGs over the 7 class folders plus 5,000 224×224 RGB PNGs, generated with sharp.
// Usage: npx tsc -p . && node dist/bench/merge.js   (BENCH_IMAGES_SCALE=0.1 for a quick run; default 1)
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { seededRandom } from '../lib/random.js';
import { pythonWith } from './python.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = path.resolve(here, '..', '..');
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const work = path.join(repoRoot, 'bench', '.work', 'merge');
const SCALE = Number(process.env.BENCH_IMAGES_SCALE ?? 1);
const CLASSES = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'] as const;
const SMALL = Math.round(20000 * SCALE);
const LARGE = Math.round(5000 * SCALE);
const TOTAL = SMALL + LARGE;
const REPS = 3;
// Bump when the generator changes, so stale fixtures from an earlier version are not reused.
const FIXTURE_VERSION = 2;

if (!Number.isFinite(SCALE) || SCALE <= 0 || SMALL < CLASSES.length || LARGE < 1) {
  throw new Error(
    `BENCH_IMAGES_SCALE must be a number > 0 giving at least ${CLASSES.length} small and 1 large image (got ${process.env.BENCH_IMAGES_SCALE})`,
  );
}

function sh(cmd: string, args: string[], cwd = work): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

// --- the Python peer ---------------------------------------------------------------------------------
const PEER = `# Written by bench/merge.ts: the same work per image as fer-dag's merge with normalize {size: 48, channels: 1}.
import hashlib, io, json, os, sys, time
from multiprocessing import Pool
from PIL import Image

def work(path):
    with open(path, 'rb') as f:
        data = f.read()
    h_in = hashlib.sha256(data).hexdigest()
    img = Image.open(io.BytesIO(data)).convert('L').resize((48, 48))
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    out = buf.getvalue()
    h_out = hashlib.sha256(out).hexdigest()
    # Stored by content, as fer-dag's merge stores its blobs (temp file + rename, so a kill leaves no half file).
    target = os.path.join(STORE, h_out[:2], h_out[2:])
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temp = f'{target}.tmp-{os.getpid()}'
        with open(temp, 'wb') as f:
            f.write(out)
        os.replace(temp, target)
    return h_in, h_out, img.size == (48, 48) and img.mode == 'L'

STORE = 'pil-store'

def main():
    root, procs = sys.argv[1], int(sys.argv[2])
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f.endswith(('.jpg', '.png')))
    t0 = time.perf_counter()
    if procs == 1:
        results = [work(p) for p in paths]
    else:
        with Pool(procs) as pool:
            results = pool.map(work, paths, chunksize=64)
    loop = time.perf_counter() - t0
    print(json.dumps({'images': len(results), 'ok': sum(1 for r in results if r[2]),
                      'distinctOutputs': len({r[1] for r in results}), 'loopSeconds': loop}))

if __name__ == '__main__':
    main()
`;

// --- fixtures ----------------------------------------------------------------------------------------

const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** A face-like picture: a gradient background, a filled ellipse, two darker "eyes", and noise; all seeded. */
function picture(side: number, channels: 1 | 3, rand: () => number): Buffer {
  const px = Buffer.alloc(side * side * channels);
  const base = Array.from({ length: channels }, () => 40 + rand() * 120);
  const slope = Array.from({ length: channels }, () => (rand() - 0.5) * 2);
  const face = Array.from({ length: channels }, () => 60 + rand() * 160);
  const cx = side * (0.35 + rand() * 0.3);
  const cy = side * (0.35 + rand() * 0.3);
  const rx = side * (0.18 + rand() * 0.15);
  const ry = side * (0.22 + rand() * 0.15);
  const eye = Math.max(1, side * 0.04);
  const noise = 12 + rand() * 20;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const dx = (x - cx) / rx;
      const dy = (y - cy) / ry;
      const inFace = dx * dx + dy * dy <= 1;
      const inEye =
        Math.abs(y - (cy - ry * 0.3)) < eye &&
        (Math.abs(x - (cx - rx * 0.4)) < eye || Math.abs(x - (cx + rx * 0.4)) < eye);
      for (let c = 0; c < channels; c++) {
        const v = inEye ? 20 : inFace ? face[c]! : base[c]! + slope[c]! * (x + y) * (64 / side);
        px[(y * side + x) * channels + c] = clamp(v + (rand() - 0.5) * noise);
      }
    }
  }
  return px;
}

interface Stamp {
  version: number;
  small: number;
  large: number;
}

async function makeFixtures(): Promise<void> {
  const stampFile = path.join(work, 'fixtures.json');
  const want: Stamp = { version: FIXTURE_VERSION, small: SMALL, large: LARGE };
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === JSON.stringify(want)) {
    console.log(
      `reusing ${SMALL} + ${LARGE} images under ${path.relative(repoRoot, work)}/data (delete it to regenerate)`,
    );
    return;
  }
  fs.rmSync(work, { recursive: true, force: true });
  const t0 = performance.now();
  const seen = new Set<string>();
  const write = async (file: string, bytes: Buffer): Promise<void> => {
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (seen.has(hash)) throw new Error(`generated a duplicate image: ${file}`);
    seen.add(hash);
    fs.writeFileSync(file, bytes);
  };
  for (const c of CLASSES) fs.mkdirSync(path.join(work, 'data', 'small', c), { recursive: true });
  for (const c of CLASSES) fs.mkdirSync(path.join(work, 'data', 'large', c), { recursive: true });
  const small = seededRandom(48, 'bench/merge'); // the same bytes every run
  for (let i = 0; i < SMALL; i++) {
    const raw = picture(48, 1, small);
    const jpg = await sharp(raw, { raw: { width: 48, height: 48, channels: 1 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    await write(
      path.join(work, 'data', 'small', CLASSES[i % CLASSES.length]!, `s${String(i).padStart(6, '0')}.jpg`),
      jpg,
    );
  }
  const large = seededRandom(224, 'bench/merge');
  for (let i = 0; i < LARGE; i++) {
    const raw = picture(224, 3, large);
    const png = await sharp(raw, { raw: { width: 224, height: 224, channels: 3 } })
      .png()
      .toBuffer();
    await write(
      path.join(work, 'data', 'large', CLASSES[i % CLASSES.length]!, `l${String(i).padStart(6, '0')}.png`),
      png,
    );
  }
  fs.writeFileSync(stampFile, JSON.stringify(want));
  console.log(
    `created ${SMALL} 48×48 gray JPGs + ${LARGE} 224×224 RGB PNGs in ${((performance.now() - t0) / 1000).toFixed(1)} s under ${path.relative(repoRoot, work)}/data`,
  );
}

// --- runs --------------------------------------------------------------------------------------------
const PIPELINE = `version: 1
seed: 1
datasets:
  small: { format: folders, path: data/small }
  large: { format: folders, path: data/large }
stages:
  merge:
    type: merge
    inputs: [small, large]
    params:
      normalize: { size: 48, channels: 1 }
`;

interface FerdagRun {
  stageSeconds: number;
  wallSeconds: number;
}
interface PilRun {
  loopSeconds: number;
  wallSeconds: number;
}

function ferdag(): FerdagRun {
  // A fresh store every time: merge memoises decodes by input bytes, so a kept store would time cache hits.
  fs.rmSync(path.join(work, '.fer-dag'), { recursive: true, force: true });
  fs.rmSync(path.join(work, 'p.lock.json'), { force: true });
  const t0 = performance.now();
  const r = sh('node', [cli, 'run', 'p.yaml', '--json']);
  const wallSeconds = (performance.now() - t0) / 1000;
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`fer-dag run exited ${r.status ?? r.signal}:\n${out.slice(-4000)}`);
  let durationMs: number | undefined;
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as { type?: string; stage?: string; durationMs?: number };
    if (event.type === 'stage-done' && event.stage === 'merge') durationMs = event.durationMs;
  }
  if (durationMs === undefined) throw new Error(`fer-dag printed no stage-done event for merge:\n${out.slice(-4000)}`);
  checkManifest();
  return { stageSeconds: durationMs / 1000, wallSeconds };
}

/** The run really merged every image: one manifest line each, all 48×48 gray PNGs, all different. */
function checkManifest(): void {
  const lock = JSON.parse(fs.readFileSync(path.join(work, 'p.lock.json'), 'utf8')) as {
    stages: Record<string, { outputs: { files: Record<string, { hash: string }> } }>;
  };
  const hash = lock.stages.merge?.outputs.files['manifest.jsonl']?.hash;
  if (!hash) throw new Error('p.lock.json names no manifest.jsonl for merge');
  const text = fs.readFileSync(path.join(work, '.fer-dag', 'objects', hash.slice(0, 2), hash.slice(2)), 'utf8');
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length !== TOTAL) throw new Error(`fer-dag's manifest has ${lines.length} lines, expected ${TOTAL}`);
  const blobs = new Set<string>();
  for (const line of lines) {
    const r = JSON.parse(line) as { blob: string; width: number; height: number; channels: number; format: string };
    if (r.width !== 48 || r.height !== 48 || r.channels !== 1 || r.format !== 'png')
      throw new Error(`fer-dag wrote a record that is not a 48×48 gray PNG: ${line}`);
    blobs.add(r.blob);
  }
  if (blobs.size !== TOTAL) throw new Error(`fer-dag's manifest has ${blobs.size} distinct blobs, expected ${TOTAL}`);
}

function pil(python: string, procs: number): PilRun {
  fs.rmSync(path.join(work, 'pil-store'), { recursive: true, force: true }); // a fresh store every run, as for fer-dag
  const t0 = performance.now();
  const r = sh(python, ['peer_pil.py', 'data', String(procs)]);
  const wallSeconds = (performance.now() - t0) / 1000;
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`${python} peer_pil.py exited ${r.status ?? r.signal}:\n${out.slice(-4000)}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    images: number;
    ok: number;
    distinctOutputs: number;
    loopSeconds: number;
  };
  if (result.images !== TOTAL || result.ok !== TOTAL || result.distinctOutputs !== TOTAL) {
    throw new Error(
      `PIL (${procs} process${procs === 1 ? '' : 'es'}) processed ${result.images} images, ${result.ok} to 48×48 L, ${result.distinctOutputs} distinct; expected ${TOTAL}`,
    );
  }
  return { loopSeconds: result.loopSeconds, wallSeconds };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// --- setup -------------------------------------------------------------------------------------------
if (!fs.existsSync(cli)) throw new Error(`${cli} is missing; build with npx tsc -p . first`);
const python = pythonWith('PIL', 'python3-pil');
const pyInfo = sh(python, ['-c', 'import sys, PIL; print(sys.version.split()[0], PIL.__version__)'], repoRoot)
  .stdout.trim()
  .split(' ');
fs.mkdirSync(work, { recursive: true });
await makeFixtures();
fs.writeFileSync(path.join(work, 'p.yaml'), PIPELINE);
fs.writeFileSync(path.join(work, 'peer_pil.py'), PEER);
console.log(
  `machine: ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}, ` +
    `sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}, ${python} = Python ${pyInfo[0]} / Pillow ${pyInfo[1]}` +
    `${process.env.UV_THREADPOOL_SIZE ? `, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}` : ''}`,
);
console.log(
  `${TOTAL} images (${SMALL} 48×48 JPG + ${LARGE} 224×224 PNG), ${REPS} repetitions each, fresh fer-dag store every run`,
);

// Interleaved, so a slow patch of the machine hits every tool alike.
const runsF: FerdagRun[] = [];
const runsP1: PilRun[] = [];
const runsP2: PilRun[] = [];
for (let i = 0; i < REPS; i++) {
  runsF.push(ferdag());
  runsP1.push(pil(python, 1));
  runsP2.push(pil(python, 2));
  const f = runsF[i]!;
  const [p1, p2] = [runsP1[i]!, runsP2[i]!];
  console.log(
    `rep ${i + 1}: fer-dag merge ${f.stageSeconds.toFixed(2)} s (process ${f.wallSeconds.toFixed(2)} s) | ` +
      `PIL 1 proc ${p1.loopSeconds.toFixed(2)} s (process ${p1.wallSeconds.toFixed(2)} s) | ` +
      `PIL 2 procs ${p2.loopSeconds.toFixed(2)} s (process ${p2.wallSeconds.toFixed(2)} s)`,
  );
}

// --- report --------------------------------------------------------------------------------------------
const rate = (seconds: number): number => TOTAL / seconds;
const fStage = rate(median(runsF.map((r) => r.stageSeconds)));
const fWall = rate(median(runsF.map((r) => r.wallSeconds)));
const p1Loop = rate(median(runsP1.map((r) => r.loopSeconds)));
const p1Wall = rate(median(runsP1.map((r) => r.wallSeconds)));
const p2Loop = rate(median(runsP2.map((r) => r.loopSeconds)));
const p2Wall = rate(median(runsP2.map((r) => r.wallSeconds)));
const ips = (x: number): string => `${Math.round(x)} images/s`;
console.log(
  `checked: fer-dag's manifest had ${TOTAL} lines (48×48 gray PNGs, all distinct) in every run; PIL processed ${TOTAL} in every run`,
);
console.log(`fer-dag merge stage:   ${ips(fStage)}  (whole process: ${ips(fWall)})   [median of ${REPS}]`);
console.log(`PIL single process:    ${ips(p1Loop)}  (whole process: ${ips(p1Wall)})`);
console.log(`PIL Pool(2):           ${ips(p2Loop)}  (whole process: ${ips(p2Wall)})`);
const vs1 = fStage / p1Loop;
const vs2 = fStage / p2Loop;
console.log(
  `whole-process ratios: vs PIL single ${(fWall / p1Wall).toFixed(3)}, vs PIL Pool(2) ${(fWall / p2Wall).toFixed(3)}`,
);
console.log(`target fer-dag >= 1.0x PIL single process: ${vs1 >= 1 ? 'MET' : 'NOT MET'} (${vs1.toFixed(3)}x)`);
console.log(
  `target fer-dag >= 1.0x PIL Pool(2): ${vs2 >= 1 ? 'MET' : 'NOT MET'} (${vs2.toFixed(3)}x)${TOTAL === 25000 ? '' : ` [at ${TOTAL} images, target is stated for 25000]`}`,
);
console.log(`merge_vs_pil: ${vs1.toFixed(3)}`);
console.log(`merge_vs_pil_2proc: ${vs2.toFixed(3)}`);
