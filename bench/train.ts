// Benchmark: training images per second of the paper's full-size CNN (48×48×1 input, batch 64, Adam,
// categorical cross-entropy, dropout and batch norm in training mode) — fer-dag's data-parallel replicas on
// the best tfjs backend available, against PyTorch on the CPU (Debian's python3-torch) training the same
// architecture with both cores, in the same script on the same inputs' shapes.
// Usage: npx tsc -p . && node dist/bench/train.js   (BENCH_TRAIN_STEPS=3 for a quick run; default 8)
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { seededRandom } from '../lib/random.js';
import { defaultParams } from '../engine/spec/schema-check.js';
import type { TrainEntry } from '../schemas/types/train.js';
import { pythonWith } from './python.js';
import { ReplicaSet, type Batch } from '../ml/training/replicas.js';
import { loadDnnlAddon } from '../ml/kernels/native-addon.js';
import type { BackendChoice } from '../ml/runtime.js';

const STEPS = Number(process.env.BENCH_TRAIN_STEPS ?? 8);
const BATCH = 64;
const SIZE = 48;
const CORES = os.availableParallelism();

function sh(cmd: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

// The same network as stages/model/paper-cnn.ts at width 1: 'same' convolutions with biases, Keras'
// batch-norm epsilon (1e-3) and momentum (0.99, i.e. PyTorch momentum 0.01), softmax + cross-entropy.
const PEER = `
import sys, time, torch, torch.nn as nn
steps, batch, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads); torch.manual_seed(0)
def block(i, o, k): return [nn.Conv2d(i, o, k, padding=k // 2), nn.BatchNorm2d(o, eps=1e-3, momentum=0.01), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25)]
def dense(i, o): return [nn.Linear(i, o), nn.BatchNorm1d(o, eps=1e-3, momentum=0.01), nn.ReLU(), nn.Dropout(0.25)]
model = nn.Sequential(*block(1, 64, 3), *block(64, 128, 5), *block(128, 512, 3), *block(512, 512, 3), nn.Flatten(),
                      *dense(4608, 256), *dense(256, 512), nn.Linear(512, 7))
opt = torch.optim.Adam(model.parameters(), 3e-4); loss_fn = nn.CrossEntropyLoss()
x = torch.rand(batch, 1, 48, 48); y = torch.randint(0, 7, (batch,))
def step():
    opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()
step()
t = time.perf_counter()
for _ in range(steps): step()
print(steps * batch / (time.perf_counter() - t))
`;

function torchImagesPerSecond(python: string): number {
  const r = sh(python, ['-c', PEER, String(STEPS), String(BATCH), String(CORES)]);
  if (r.status !== 0) throw new Error(`the PyTorch peer failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function randomBatch(random: () => number): Batch {
  const x = new Float32Array(BATCH * SIZE * SIZE);
  for (let i = 0; i < x.length; i++) x[i] = random();
  return { x, labels: Int32Array.from({ length: BATCH }, () => Math.floor(random() * 7)) };
}

async function ferDagImagesPerSecond(
  replicaCount: number,
  backend: BackendChoice,
): Promise<{ imagesPerSecond: number; backend: string }> {
  const { dropout, batchNormMomentum } = defaultParams<TrainEntry>('train.schema.json'); // the train stage's paper CNN
  const spec = {
    arch: 'paper-cnn' as const,
    inputSize: SIZE,
    channels: 1 as const,
    width: 1,
    classes: 7,
    dropout,
    batchNormMomentum,
  };
  const replicas = await ReplicaSet.start({
    spec,
    replicas: replicaCount,
    backend,
    seed: 1,
    learningRate: 3e-4,
    exampleSize: SIZE * SIZE,
  });
  const random = seededRandom(1, 'bench');
  try {
    await replicas.step(randomBatch(random));
    const batches = Array.from({ length: STEPS }, () => randomBatch(random));
    const start = performance.now();
    for (const batch of batches) await replicas.step(batch);
    return { imagesPerSecond: (STEPS * BATCH) / ((performance.now() - start) / 1000), backend: replicas.backend };
  } finally {
    await replicas.close();
  }
}

// FLOPs (a multiply-add is 2) one training image costs the paper CNN: four 'same' convolutions, each followed by
// a 2×2 max-pool, then the dense layers 4608 → 256 → 512 → 7. Training is the forward pass, the backward pass
// for the data (the forward's products again, less the first convolution's: the input needs no gradient) and for
// the weights (the forward's products again): 3 × forward − the first convolution's forward, about 1.74 GFLOP.
// Batch norm, ReLU, pooling, dropout and Adam are a few MFLOP and left out.
function trainingFlopsPerImage(): number {
  const convs = [
    { size: 48, ci: 1, k: 3, co: 64 },
    { size: 24, ci: 64, k: 5, co: 128 },
    { size: 12, ci: 128, k: 3, co: 512 },
    { size: 6, ci: 512, k: 3, co: 512 },
  ].map(({ size, ci, k, co }) => 2 * size * size * ci * k * k * co);
  const dense = [
    [4608, 256],
    [256, 512],
    [512, 7],
  ].map(([i, o]) => 2 * i! * o!);
  const forward = [...convs, ...dense].reduce((a, b) => a + b, 0);
  return 3 * forward - convs[0]!;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length % 2
    ? (sorted[(sorted.length - 1) / 2] as number)
    : ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
};

// The machine's load drifts (other processes, turbo), so the two sides alternate round by round and
// each is summarised by its median.
const ROUNDS = Number(process.env.BENCH_TRAIN_ROUNDS ?? 3);
const python = pythonWith('torch', 'python3-torch');
console.log(
  `paper CNN 48×48×1, batch ${BATCH}, ${STEPS} timed steps after one warm-up, ${ROUNDS} alternating rounds; ${CORES} cores`,
);
// The native backend (oneDNN's convolutions) where its addon is built, and wasm, each against the same PyTorch.
const loaded = loadDnnlAddon();
const addon = 'addon' in loaded ? loaded.addon : undefined;
const backends: BackendChoice[] = addon ? ['native', 'wasm'] : ['wasm'];
// oneDNN's instruction set, for the native backend and for PyTorch's own oneDNN alike (both read
// DNNL_MAX_CPU_ISA: `DNNL_MAX_CPU_ISA=AVX2 npm run bench:train` measures an AVX-512 machine as an AVX2 one).
if (addon)
  console.log(`oneDNN kernels: ${addon.cpuIsa} (DNNL_MAX_CPU_ISA: ${process.env.DNNL_MAX_CPU_ISA ?? 'unset'})`);
const FLOP_PER_IMAGE = trainingFlopsPerImage();
console.log(`training FLOP per image: ${(FLOP_PER_IMAGE / 1e9).toFixed(3)} G (convolutions and dense layers)`);
// The machine's FP32 peak on all cores, measured here (the addon's FMA loop at the width oneDNN's kernels use,
// 1 s) before and after the rounds: a shared machine's load drifts, and the larger is the nearer to what the
// cores can do.
const PEAK_MS = 1000;
const peakBefore = addon ? addon.peakFlops(CORES, PEAK_MS) : undefined;
for (const backend of backends) {
  const single = await ferDagImagesPerSecond(1, backend);
  console.log(`fer-dag, 1 replica (${single.backend}): ${single.imagesPerSecond.toFixed(1)} images/s`);
}
const torchRuns: number[] = [];
const ferDagRuns = new Map<BackendChoice, number[]>(backends.map((b) => [b, []]));
for (let round = 1; round <= ROUNDS; round++) {
  torchRuns.push(torchImagesPerSecond(python));
  const line = [`round ${round}: pytorch (${CORES} threads) ${torchRuns.at(-1)!.toFixed(1)} images/s`];
  for (const backend of backends) {
    const ours = await ferDagImagesPerSecond(CORES, backend);
    ferDagRuns.get(backend)!.push(ours.imagesPerSecond);
    line.push(`fer-dag (${CORES} replicas, ${ours.backend}) ${ours.imagesPerSecond.toFixed(1)} images/s`);
  }
  console.log(line.join(' · '));
}
const peer = median(torchRuns);
const summary = Object.fromEntries(backends.map((b) => [b, Number(median(ferDagRuns.get(b)!).toFixed(1))]));
console.log(JSON.stringify({ replicas: CORES, ...summary, pytorch: Number(peer.toFixed(1)) }));
// The first backend is the one `backend: native` (or, without the addon, `auto`) trains on.
console.log(`train_vs_pytorch: ${(summary[backends[0]!]! / peer).toFixed(3)}`);
if (backends.includes('native')) console.log(`train_vs_pytorch (wasm): ${(summary.wasm! / peer).toFixed(3)}`);
if (addon && peakBefore !== undefined) {
  const peakAfter = addon.peakFlops(CORES, PEAK_MS);
  const peak = Math.max(peakBefore, peakAfter);
  const giga = (flops: number) => (flops / 1e9).toFixed(1);
  console.log(
    `peak: ${giga(peak)} GFLOP/s on ${CORES} threads (${addon.cpuIsa.startsWith('avx512') ? 'AVX-512' : 'AVX2'} ` +
      `FMA loop, as wide as oneDNN's kernels; ${giga(peakBefore)} before the rounds, ` +
      `${giga(peakAfter)} after)`,
  );
  const fraction = (summary.native! * FLOP_PER_IMAGE) / peak;
  console.log(`train_fraction_of_peak: ${fraction.toFixed(3)}`);
} else {
  console.log('train_fraction_of_peak: unavailable (no native addon)');
}
