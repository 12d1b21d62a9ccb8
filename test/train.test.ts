import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Store } from '../cache/store.js';
import type { Lockfile } from '../engine/lockfile.js';
import { EMOTIONS } from '../datasets/vocabulary.js';
import { encodePng } from '../datasets/images/codec/png.js';
import { resolveBackendChoice, selectBackend } from '../ml/runtime.js';
import { loadDnnlAddon } from '../ml/kernels/native-addon.js';
import { storeLoadHandler, trainedOnnxModel } from '../ml/model-files.js';
import { modelMetadataProps } from '../ml/onnx/graph.js';
import { openOnnxModel } from '../ml/inference/session.js';
import { ReplicaSet } from '../ml/training/replicas.js';
import type { InputView } from '../engine/stage.js';
import { cli, cliWithEnv, executedStages, makeProject, startCli, waitFor } from './helpers.js';

const SIZE = 16;

/**
 * A dataset a tiny CNN can learn in seconds: class i is a bright band at rows 2i..2i+1 over noise, so
 * accuracy far above chance (1/7) means images, labels and training all line up.
 */
function bandImage(label: number, seed: number): Buffer {
  const data = new Uint8Array(SIZE * SIZE);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const row = Math.floor(i / SIZE);
    data[i] = row >> 1 === label ? 200 + (s % 50) : s % 90;
  }
  return encodePng({ width: SIZE, height: SIZE, channels: 1, data });
}

const TRAIN =
  '{ inputSize: 16, width: 0.125, dropout: 0, batchNormMomentum: 0.5, batchSize: 16, learningRate: 0.01, EPOCHS }';

function bandsProject(epochs = 6, extraParams = ''): string {
  const files: Record<string, string> = {};
  const dir = makeProject(files);
  for (let label = 0; label < EMOTIONS.length; label++) {
    const folder = path.join(dir, 'data', 'bands', EMOTIONS[label] as string);
    fs.mkdirSync(folder, { recursive: true });
    for (let i = 0; i < 16; i++) fs.writeFileSync(path.join(folder, `${i}.png`), bandImage(label, label * 100 + i));
  }
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    `version: 1
seed: 11
datasets:
  bands: { format: folders, path: data/bands }
stages:
  merge: { type: merge, inputs: [bands] }
  train:
    type: train
    input: merge
    params: ${TRAIN.replace('EPOCHS', `epochs: ${epochs}${extraParams}`)}
`,
  );
  return dir;
}

function lock(dir: string): Lockfile {
  return JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8')) as Lockfile;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read fields of whatever JSON the stage wrote
type StageJson = any;

function trainOutput(dir: string): {
  store: Store;
  files: Record<string, { hash: string }>;
  json(rel: string): StageJson;
} {
  const store = new Store(path.join(dir, '.fer-dag'));
  const files = lock(dir).stages.train!.outputs.files as Record<string, { hash: string }>;
  return { store, files, json: (rel) => JSON.parse(store.readBlob(files[rel]!.hash).toString()) };
}

test('a tiny paper-cnn learns a learnable dataset and writes model, history, curves and metrics', async () => {
  const dir = bandsProject();
  const result = await cli(dir, 'run', 'p.yaml', '--json');
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const out = trainOutput(dir);
  assert.deepEqual(Object.keys(out.files).sort(), [
    'history.json',
    'learning-curves.png',
    'metrics.json',
    'model/model.json',
    'model/model.onnx',
    'model/weights.bin',
  ]);
  const metrics = out.json('metrics.json');
  const backend = 'addon' in loadDnnlAddon() ? 'native' : 'wasm';
  assert.equal(metrics.backend, backend, 'native where the oneDNN addon is built, else wasm');
  assert.equal(resolveBackendChoice('auto').split(' ')[0], backend, 'the key names the same backend');
  assert.match(
    metrics.passedOver.join('; '),
    /@tensorflow\/tfjs-node is not installed/,
    'why faster backends were passed over',
  );
  assert.equal(metrics.images.train + metrics.images.validation, 7 * 16);
  assert.ok(metrics.valAccuracy >= 0.6, `validation accuracy ${metrics.valAccuracy} (chance is 0.14)`);
  const history = out.json('history.json') as Array<{
    epoch: number;
    loss: number;
    valAccuracy: number;
    learningRate: number;
  }>;
  assert.equal(history.length, 6);
  assert.ok((history.at(-1)?.loss ?? 9) < (history[0]?.loss ?? 0), 'the training loss goes down');
  assert.equal(out.store.readBlob(out.files['learning-curves.png']!.hash).subarray(1, 4).toString(), 'PNG');

  // The stored model loads back through the store's IO handler and scores what the record says.
  await selectBackend('wasm');
  const view = {
    name: 'train',
    files: out.files,
    readFile: (rel: string) => out.store.readBlob(out.files[rel]!.hash),
    readText: (rel: string) => out.store.readBlob(out.files[rel]!.hash).toString(),
  } as unknown as InputView;
  const model = await tfl.loadLayersModel(storeLoadHandler(view, 'model'));
  const x = tf.tensor4d(
    Float32Array.from({ length: 7 * SIZE * SIZE }, (_, i) => {
      const label = Math.floor(i / (SIZE * SIZE));
      const row = Math.floor((i % (SIZE * SIZE)) / SIZE);
      return row >> 1 === label ? 0.9 : 0.1;
    }),
    [7, SIZE, SIZE, 1],
  );
  const probabilities = model.predict(x) as tf.Tensor;
  const predicted = Array.from(tf.argMax(probabilities, -1).dataSync());
  assert.ok(predicted.filter((p, i) => p === i).length >= 5, `clean bands classified as ${predicted}`);

  // model.onnx beside it runs in onnxruntime and gives the same probabilities.
  const onnx = await openOnnxModel(trainedOnnxModel(view), { provider: 'cpu', threads: 1 });
  const [fromOnnx] = await onnx.run(x.dataSync() as Float32Array, x.shape);
  await onnx.release();
  const expected = probabilities.dataSync();
  const worst = Math.max(...Array.from(expected, (v, i) => Math.abs(v - fromOnnx!.data[i]!)));
  assert.ok(worst <= 1e-4, `model.onnx differs from the tfjs model by up to ${worst}`);
});

test('same seed, same backend: identical weights; changing only epochs retrains while merge stays cached', async () => {
  const [a, b] = [bandsProject(3), bandsProject(3)];
  for (const dir of [a, b]) assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  assert.equal(trainOutput(a).files['model/weights.bin']!.hash, trainOutput(b).files['model/weights.bin']!.hash);
  assert.equal(trainOutput(a).files['model/model.onnx']!.hash, trainOutput(b).files['model/model.onnx']!.hash);
  assert.equal(trainOutput(a).files['history.json']!.hash, trainOutput(b).files['history.json']!.hash);

  fs.writeFileSync(
    path.join(a, 'p.yaml'),
    fs.readFileSync(path.join(a, 'p.yaml'), 'utf8').replace('epochs: 3', 'epochs: 4'),
  );
  const rerun = await cli(a, 'run', 'p.yaml', '--json');
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(executedStages(rerun), ['train']);
  assert.equal(trainOutput(a).json('history.json').length, 4);
});

test('without the oneDNN addon training falls back to wasm; the backend is in the key and the lockfile', async () => {
  const dir = bandsProject(1);
  const withoutAddon = await cliWithEnv({ ...process.env, FER_DAG_SKIP_NATIVE: '1' }, dir, 'run', 'p.yaml');
  assert.equal(withoutAddon.code, 0, withoutAddon.stdout + withoutAddon.stderr);
  assert.equal(trainOutput(dir).json('metrics.json').backend, 'wasm');
  assert.equal((lock(dir).stages.train!.params as { backend: string }).backend, 'wasm');
  if ('reason' in loadDnnlAddon()) return; // this machine has no addon: the run above is the whole story
  const withAddon = await cli(dir, 'run', 'p.yaml', '--json');
  assert.equal(withAddon.code, 0, withAddon.stderr);
  assert.deepEqual(executedStages(withAddon), ['train'], 'another backend is another key');
  assert.equal(trainOutput(dir).json('metrics.json').backend, 'native');
  const { cpuIsa } = (loadDnnlAddon() as { addon: { cpuIsa: string } }).addon;
  assert.equal((lock(dir).stages.train!.params as { backend: string }).backend, `native (${cpuIsa})`);

  // oneDNN's kernels for another instruction set sum in another order: capped at SSE4.1 (which every x86-64 CPU
  // this runs on exceeds), the same pipeline is another key, not a "non-deterministic" stage with this one's key.
  const capped = await cliWithEnv({ ...process.env, DNNL_MAX_CPU_ISA: 'SSE41' }, dir, 'run', 'p.yaml', '--json');
  assert.equal(capped.code, 0, capped.stderr);
  assert.deepEqual(executedStages(capped), ['train'], 'another instruction set is another key');
  assert.equal((lock(dir).stages.train!.params as { backend: string }).backend, 'native (sse41)');
});

/** The paper CNN at an eighth of its width on 16×16 inputs: trains a step in milliseconds. */
const TINY_CNN = {
  arch: 'paper-cnn' as const,
  inputSize: 16,
  channels: 1 as const,
  width: 0.125,
  classes: 7,
  dropout: 0.25,
  batchNormMomentum: 0.9,
};

test('memory stays flat: replicas hold the same number of tensors after every step', async () => {
  const spec = TINY_CNN;
  const replicas = await ReplicaSet.start({
    spec,
    replicas: 2,
    backend: 'wasm',
    seed: 1,
    learningRate: 1e-3,
    exampleSize: SIZE * SIZE,
  });
  try {
    const batch = () => ({
      x: Float32Array.from({ length: 8 * SIZE * SIZE }, (_, i) => (i % 7) / 7),
      labels: Int32Array.from({ length: 8 }, (_, i) => i % 7),
    });
    await replicas.step(batch());
    const after1 = await replicas.tensorCounts();
    for (let i = 0; i < 5; i++) {
      await replicas.step(batch());
      await replicas.evaluate(batch());
      await replicas.syncMovingStats();
    }
    await replicas.save();
    assert.deepEqual(await replicas.tensorCounts(), after1);
    const evaluated = await replicas.evaluate(batch());
    assert.equal(evaluated.probabilities.length, 8 * 7);
    for (let i = 0; i < 8; i++) {
      const row = Array.from(evaluated.probabilities.subarray(i * 7, i * 7 + 7));
      assert.ok(Math.abs(row.reduce((a, b) => a + b) - 1) < 1e-5, 'each row is a distribution');
      assert.equal(
        row.indexOf(Math.max(...row)),
        evaluated.predictions[i],
        'the prediction is its most probable class',
      );
    }
  } finally {
    await replicas.close();
  }
});

test('Ctrl-C stops training after the batch in flight and stores no model', async () => {
  const dir = bandsProject(200);
  const child = startCli(dir, ['run', 'p.yaml', '--json']);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.resume();
  await waitFor(() => stdout.includes('"type":"stage-progress","stage":"train"'), 60_000, 'training progress');
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.kill('SIGINT');
  assert.notEqual(await exited, 0);
  const status = await cli(dir, 'status', 'p.yaml', '--json');
  const train = JSON.parse(status.stdout).stages.find((s: { stage: string }) => s.stage === 'train');
  assert.equal(train.state, 'never-run', status.stdout);
  assert.equal(JSON.parse(status.stdout).stages.find((s: { stage: string }) => s.stage === 'merge').state, 'fresh');
});

test('a backend named in params is required: one that is not installed fails with its name', async () => {
  const dir = bandsProject(1, ', backend: tensorflow');
  const result = await cli(dir, 'run', 'p.yaml');
  assert.notEqual(result.code, 0);
  assert.match(result.stdout + result.stderr, /@tensorflow\/tfjs-node is not installed/);
});

test('transfer: backbone features are memoised per image, so another head retrains without recomputing them', async () => {
  const dir = bandsProject(2, ', arch: transfer, headUnits: [16, 8]');
  const first = await cli(dir, 'run', 'p.yaml');
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /mobileface features: 0 memoised, 112 to compute/);
  const metrics = trainOutput(dir).json('metrics.json');
  assert.equal(metrics.arch, 'transfer');
  assert.equal(trainOutput(dir).json('model/model.json').userDefinedMetadata.backbone, 'mobileface');
  const onnx = trainOutput(dir).store.readBlob(trainOutput(dir).files['model/model.onnx']!.hash);
  assert.equal(modelMetadataProps(onnx).backbone, 'mobileface', 'model.onnx holds the backbone too');

  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs.readFileSync(path.join(dir, 'p.yaml'), 'utf8').replace('headUnits: [16, 8]', 'headUnits: [32]'),
  );
  const second = await cli(dir, 'run', 'p.yaml', '--json');
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(executedStages(second), ['train']);
  assert.match(second.stdout, /mobileface features: 112 memoised, 0 to compute/);
});

test('a restarted replica set trains the weights a fresh one would and leaves no tensors behind', async () => {
  const spec = TINY_CNN;
  const options = (seed: number) => ({
    spec,
    replicas: 2,
    backend: 'auto' as const,
    seed,
    learningRate: 1e-3,
    exampleSize: SIZE * SIZE,
  });
  const batch = (shift: number) => ({
    x: Float32Array.from({ length: 8 * SIZE * SIZE }, (_, i) => ((i + shift) % 7) / 7),
    labels: Int32Array.from({ length: 8 }, (_, i) => (i + shift) % 7),
  });
  const train = async (replicas: ReplicaSet) => {
    for (let i = 0; i < 3; i++) await replicas.step(batch(i));
    await replicas.syncMovingStats();
    return Buffer.from((await replicas.save()).weightData);
  };
  const fresh = await ReplicaSet.start(options(5));
  const expected = await train(fresh);
  const restarted = await fresh.restart(options(5));
  const another = await ReplicaSet.start(options(4));
  let reused: ReplicaSet | undefined;
  try {
    const tensorsAtStart = await restarted.tensorCounts();
    assert.deepEqual(
      await train(restarted),
      expected,
      'restart on the same threads: the same weights as a fresh start',
    );
    assert.notDeepEqual(await train(another), expected, 'another seed trains other weights');
    reused = await another.restart(options(5));
    assert.deepEqual(await train(reused), expected, 'restart after training another model: the same weights');
    const again = await restarted.restart(options(5));
    assert.deepEqual(await again.tensorCounts(), tensorsAtStart, 'the trained model was disposed');
  } finally {
    await restarted.close();
    await (reused ?? another).close();
  }
});
