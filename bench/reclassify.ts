// Measurement: how well reclassify-inputs finds the demo generator's flipped labels, against the paper's
// way ("train once, relabel every image the model disagrees with", on the same out-of-fold probabilities),
// and what it buys a model: the demo's CNN trained on the labels as given vs as reclassified, both scored
// on a separately generated test set with no flipped labels. Every training runs with BENCH_RECLASSIFY_SEEDS
// seeds (default 2) so a gain is not one lucky initialisation.
// Usage: npx tsc -p . && node dist/bench/reclassify.js        (about 15 minutes on 2 cores)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Store } from '../cache/store.js';
import { EMOTIONS, type Emotion } from '../stages/formats/emotions.js';
import type { ManifestRecord } from '../stages/merge.js';
import { selectBackend } from '../stages/model/runtime.js';
import { storeLoadHandler } from '../stages/model/store-io.js';
import { PixelSource } from '../stages/training/examples.js';
import type { InputView } from '../stages/types.js';

const SEEDS = Number(process.env.BENCH_RECLASSIFY_SEEDS ?? 2);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'engine', 'cli', 'main.js');
const TRAIN = '{ width: 0.25, epochs: 20, learningRate: 0.002, batchNormMomentum: 0.9 }';

function pipeline(): string {
  const trainings = Array.from({ length: SEEDS }, (_, s) => [
    `  before-${s}: { type: train, input: merge, params: ${TRAIN} }`,
    `  after-${s}: { type: train, input: reclassify, params: ${TRAIN} }`,
  ]).flat();
  return `version: 1
seed: 7
stages:
  fer2013: { type: generate-faces, params: { style: fer2013, perClass: 150, labelNoise: 0.1 } }
  nhfi: { type: generate-faces, params: { style: nhfi, perClass: 60, size: 112, labelNoise: 0.1, contempt: 10 } }
  affectnet: { type: generate-faces, params: { style: affectnet, perClass: 90, size: 112, labelNoise: 0.1, contempt: 10 } }
  merge: { type: merge, inputs: [fer2013, nhfi, affectnet] }
  reclassify: { type: reclassify-inputs, input: merge, params: { model: { arch: transfer, epochs: 30 } } }
  test-fer2013: { type: generate-faces, params: { style: fer2013, perClass: 40, classSkew: {} } }
  test-nhfi: { type: generate-faces, params: { style: nhfi, perClass: 40, size: 112 } }
  test-affectnet: { type: generate-faces, params: { style: affectnet, perClass: 40, size: 112 } }
  clean-test: { type: merge, inputs: [test-fer2013, test-nhfi, test-affectnet] }
${trainings.join('\n')}
`;
}

interface Lock { stages: Record<string, { outputs: { files: Record<string, { hash: string }> }; durationMs?: number }> }

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-bench-reclassify-'));
fs.writeFileSync(path.join(work, 'p.yaml'), pipeline());
console.log(`pipeline in ${work}; running it (${2 * SEEDS} trainings)…`);
const started = Date.now();
const run = spawnSync(process.execPath, [CLI, 'run', 'p.yaml'], { cwd: work, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
if (run.status !== 0) throw new Error(`fer-dag run failed:\n${run.stdout.slice(-3000)}`);
console.log(run.stdout.split('\n').filter((l) => /\[reclassify\]|done/.test(l)).join('\n'));
console.log(`ran in ${((Date.now() - started) / 60000).toFixed(1)} min`);

const store = new Store(path.join(work, '.fer-dag'));
const lock = JSON.parse(fs.readFileSync(path.join(work, 'p.lock.json'), 'utf8')) as Lock;
const fileOf = (stage: string, rel: string): Buffer => {
  const hash = lock.stages[stage]?.outputs.files[rel]?.hash;
  if (!hash) throw new Error(`${stage} has no ${rel}`);
  return store.readBlob(hash);
};
const lines = <T>(stage: string, rel: string): T[] => fileOf(stage, rel).toString().trim().split('\n').map((l) => JSON.parse(l) as T);

// Detection against the truth: confident learning (the stage) and the paper's argmax rule.
const merged = lines<ManifestRecord>('merge', 'manifest.jsonl');
const truthOf = new Map(merged.map((r) => [r.blob, r.trueLabel]));
const wrong = new Set(merged.filter((r) => r.label !== r.trueLabel).map((r) => r.blob));
const score = (flagged: Set<string>) => {
  const tp = [...flagged].filter((b) => wrong.has(b)).length;
  return { flagged: flagged.size, precision: tp / Math.max(1, flagged.size), recall: tp / Math.max(1, wrong.size) };
};
const confident = score(new Set(lines<{ blob: string }>('reclassify', 'issues.jsonl').map((i) => i.blob)));
const argmax = score(new Set(lines<{ blob: string; given: string; p: number[] }>('reclassify', 'out-of-fold.jsonl')
  .filter((r) => EMOTIONS[r.p.indexOf(Math.max(...r.p))] !== r.given).map((r) => r.blob)));
const after = lines<ManifestRecord>('reclassify', 'manifest.jsonl');
const labelAccuracy = (records: ManifestRecord[]) => records.filter((r) => r.label === truthOf.get(r.blob)).length / records.length;

// Each trained model on the clean test set.
await selectBackend('wasm');
const test = lines<ManifestRecord>('clean-test', 'manifest.jsonl');
const pixels = new PixelSource((hash) => store.readBlob(hash), { inputSize: 48, channels: 1 }, 256);
const testBatch = await pixels.batch(test.map((r) => ({ blob: r.blob, label: EMOTIONS.indexOf(r.label as Emotion), source: r.source })));
async function testAccuracy(stage: string): Promise<number> {
  const files = lock.stages[stage]!.outputs.files;
  const view = { name: stage, files, readFile: (rel: string) => fileOf(stage, rel), readText: (rel: string) => fileOf(stage, rel).toString() } as unknown as InputView;
  const model = await tfl.loadLayersModel(storeLoadHandler(view, 'model'));
  const predicted = tf.tidy(() => tf.argMax(model.predict(tf.tensor4d(testBatch.x, [test.length, 48, 48, 1])) as tf.Tensor, -1).dataSync());
  model.dispose();
  return Array.from(predicted).filter((p, i) => p === testBatch.labels[i]).length / test.length;
}
const before: number[] = [];
const afterAcc: number[] = [];
for (let s = 0; s < SEEDS; s++) {
  before.push(await testAccuracy(`before-${s}`));
  afterAcc.push(await testAccuracy(`after-${s}`));
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f = (x: number) => x.toFixed(3);

console.log(`\n${merged.length} images, ${wrong.size} with a flipped label (${(100 * wrong.size / merged.length).toFixed(1)} %)`);
console.log(`confident learning:      flagged ${confident.flagged}, precision ${f(confident.precision)}, recall ${f(confident.recall)}`);
console.log(`argmax disagreement:     flagged ${argmax.flagged}, precision ${f(argmax.precision)}, recall ${f(argmax.recall)}  (the paper's rule, same probabilities)`);
console.log(`labels right: ${f(labelAccuracy(merged))} as given → ${f(labelAccuracy(after))} reclassified`);
console.log(`clean test (${test.length} images), demo CNN per seed: before ${before.map(f).join(', ')}; after ${afterAcc.map(f).join(', ')}`);
console.log(JSON.stringify({
  reclassify_precision: Number(f(confident.precision)), reclassify_recall: Number(f(confident.recall)),
  argmax_precision: Number(f(argmax.precision)), argmax_recall: Number(f(argmax.recall)),
  clean_test_before: Number(f(mean(before))), clean_test_after: Number(f(mean(afterAcc))), gain_points: Number((100 * (mean(afterAcc) - mean(before))).toFixed(2)),
}));
fs.rmSync(work, { recursive: true, force: true });
