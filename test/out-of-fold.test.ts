import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../lib/random.js';
import { assignFolds, outOfFoldProbabilities } from '../stages/reclassify-inputs/out-of-fold.js';
import type { Example } from '../ml/training/examples.js';
import type { ExampleSource } from '../ml/training/fit.js';
import { FoldPool } from '../ml/training/fold-pool.js';

const SIZE = 16;

/** Class i is a bright band at rows 2i..2i+1 over noise (as in train.test.ts), made on the fly. */
function bandSource(): ExampleSource {
  return {
    exampleSize: SIZE * SIZE,
    async batch(examples: readonly Example[]) {
      const x = new Float32Array(examples.length * SIZE * SIZE);
      examples.forEach((e, k) => {
        const noise = seededRandom(1, e.blob);
        for (let i = 0; i < SIZE * SIZE; i++)
          x[k * SIZE * SIZE + i] = Math.floor(i / SIZE) >> 1 === e.label ? 0.8 + 0.2 * noise() : 0.35 * noise();
      });
      return { x, labels: Int32Array.from(examples, (e) => e.label) };
    },
  };
}

const examples: Example[] = Array.from({ length: 84 }, (_, i) => ({
  blob: `image-${i}`,
  label: i % 7,
  source: 'bands',
}));

test('folds are disjoint, cover every image and keep the class mix', () => {
  const folds = assignFolds(examples, 3, seededRandom(2, 'folds'));
  assert.equal(folds.length, 84);
  for (let f = 0; f < 3; f++) {
    for (let label = 0; label < 7; label++)
      assert.equal(examples.filter((e, i) => folds[i] === f && e.label === label).length, 4);
  }
  assert.deepEqual(assignFolds(examples, 3, seededRandom(2, 'folds')), folds, 'seeded');
});

test('every image gets probabilities from a model that did not train on it, and they beat chance', async () => {
  const foldOf = assignFolds(examples, 3, seededRandom(5, 'folds'));
  const rows = await outOfFoldProbabilities(examples, foldOf, undefined, bandSource(), {
    folds: 3,
    replicas: 2,
    backend: 'wasm',
    seed: 5,
    validationSplit: 0.2,
    random: (fold) => seededRandom(5, `oof ${fold}`),
    spec: {
      arch: 'paper-cnn',
      inputSize: SIZE,
      channels: 1,
      width: 0.125,
      classes: 7,
      dropout: 0,
      batchNormMomentum: 0.5,
    },
    fit: {
      epochs: 6,
      batchSize: 16,
      learningRate: 0.01,
      reduceLr: { factor: 0.5, patience: 3, minLearningRate: 1e-5 },
      flip: false,
      signal: new AbortController().signal,
      progress: () => {},
      log: () => {},
    },
  });
  assert.equal(rows.length, 84);
  assert.ok(rows.every((r) => r.length === 7 && Math.abs(r.reduce((a, b) => a + b, 0) - 1) < 1e-4));
  const correct = rows.filter((r, i) => r.indexOf(Math.max(...r)) === examples[i]!.label).length;
  assert.ok(correct / 84 >= 0.5, `out-of-fold accuracy ${correct / 84} (chance 0.14)`);
});

/** Feature vectors whose class shows in four of 32 entries, over noise: what a transfer head trains on. */
const FEATURES = 32;
const featureSource: ExampleSource = {
  exampleSize: FEATURES,
  async batch(examples: readonly Example[]) {
    const x = new Float32Array(examples.length * FEATURES);
    examples.forEach((e, k) => {
      const noise = seededRandom(1, e.blob);
      for (let i = 0; i < FEATURES; i++) x[k * FEATURES + i] = (i >> 2 === e.label ? 1 : 0) + 0.6 * noise();
    });
    return { x, labels: Int32Array.from(examples, (e) => e.label) };
  },
};

function headOptions(pool: () => FoldPool, signal = new AbortController().signal, progress = () => {}) {
  return {
    folds: 5,
    replicas: 1,
    pool,
    backend: 'wasm' as const,
    seed: 11,
    validationSplit: 0.2,
    random: (fold: number) => seededRandom(11, `oof ${fold}`),
    spec: {
      arch: 'transfer-head' as const,
      featureSize: FEATURES,
      units: [16],
      classes: 7,
      dropout: 0.25,
      batchNormMomentum: 0.9,
    },
    fit: {
      epochs: 8,
      batchSize: 8,
      learningRate: 0.01,
      reduceLr: { factor: 0.5, patience: 3, minLearningRate: 1e-5 },
      flip: false,
      signal,
      progress,
      log: () => {},
    },
  };
}

test("transfer heads' folds, a thread each, give the same probabilities on one thread as on three", async () => {
  const foldOf = assignFolds(examples, 5, seededRandom(5, 'folds'));
  const run = async (threads: number) => {
    const pool = new FoldPool(threads);
    try {
      return await outOfFoldProbabilities(
        examples,
        foldOf,
        undefined,
        featureSource,
        headOptions(() => pool),
      );
    } finally {
      await pool.close();
    }
  };
  const one = await run(1);
  const three = await run(3);
  assert.deepEqual(three, one);
  const correct = one.filter((r, i) => r.indexOf(Math.max(...r)) === examples[i]!.label).length;
  assert.ok(correct / 84 >= 0.5, `out-of-fold accuracy ${correct / 84} (chance 0.14)`);
});

test('stopping a cross-validation stops the folds in training at once; an unfinished fold is not kept', async () => {
  const foldOf = assignFolds(examples, 5, seededRandom(5, 'folds'));
  const stop = new AbortController();
  const finished: number[] = [];
  const pool = new FoldPool(2);
  const options = headOptions(
    () => pool,
    stop.signal,
    () => stop.abort(),
  );
  options.fit.epochs = 2000;
  try {
    await assert.rejects(
      outOfFoldProbabilities(examples, foldOf, undefined, featureSource, {
        ...options,
        foldMemo: { get: () => undefined, set: (fold) => finished.push(fold) },
      }),
      { name: 'AbortError' },
    );
  } finally {
    await pool.close();
  }
  assert.deepEqual(finished, [], 'no fold of 2000 epochs finished in the first progress report');
});
