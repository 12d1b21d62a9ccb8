import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { ItemMemo } from '../cache/memo.js';
import { scoreCell } from '../stages/cross-evaluate/cells.js';
import { modelProbabilities } from '../ml/predict.js';
import { EMOTIONS, type Emotion } from '../datasets/vocabulary.js';
import type { ManifestRecord } from '../datasets/record.js';
import { selectBackend } from '../ml/runtime.js';
import { storeSaveHandler } from '../ml/model-files.js';
import { seededRandom } from '../lib/random.js';
import type { OutputWriter, StageContext } from '../engine/stage.js';
import { memoryView } from './helpers.js';

/**
 * A fixed model on 4×4 gray images: logits happy = 16·v − 8, sad = 8 − 16·v, neutral = 1, others 0, for an
 * image of uniform brightness v in 0..1. So a white image is happy, a black one sad, a mid-gray one neutral.
 */
async function fixedModel(): Promise<Map<string, Uint8Array>> {
  const model = tfl.sequential({
    layers: [tfl.layers.flatten({ inputShape: [4, 4, 1] }), tfl.layers.dense({ units: 7, activation: 'softmax' })],
  });
  const kernel = new Float32Array(16 * 7);
  const [happy, sad, neutral] = (['happy', 'sad', 'neutral'] as Emotion[]).map((e) => EMOTIONS.indexOf(e));
  for (let i = 0; i < 16; i++) {
    kernel[i * 7 + happy!] = 1;
    kernel[i * 7 + sad!] = -1;
  }
  const bias = new Float32Array(7);
  bias[happy!] = -8;
  bias[sad!] = 8;
  bias[neutral!] = 1;
  model.layers[1]!.setWeights([tf.tensor2d(kernel, [16, 7]), tf.tensor1d(bias)]);
  const files = new Map<string, Uint8Array>();
  const writer = {
    writeFile: (rel: string, data: string | Uint8Array) =>
      void files.set(rel, typeof data === 'string' ? Buffer.from(data) : data),
    writeJson: (rel: string, v: unknown) => void files.set(rel, Buffer.from(JSON.stringify(v))),
  };
  await model.save(
    storeSaveHandler(writer as unknown as OutputWriter, 'model', {
      classes: [...EMOTIONS],
      arch: 'paper-cnn',
      inputSize: 4,
      channels: 1,
    }),
  );
  return files;
}

test('a fixed model on fixed images scores what is worked out by hand: a class never predicted, a class with no images', async () => {
  await selectBackend('auto');
  const files = await fixedModel();
  const view = memoryView('fixed', 'fixed-model-v1', files);
  // Seven images: brightness decides the prediction, the label is what the test says it is.
  const cases: Array<[number, Emotion]> = [
    [255, 'happy'],
    [255, 'surprise'],
    [0, 'sad'],
    [0, 'angry'],
    [128, 'fear'],
    [128, 'fear'],
    [120, 'fear'],
  ];
  const blobs = new Map<string, Buffer>();
  const records: ManifestRecord[] = [];
  for (const [i, [level, label]] of cases.entries()) {
    const png = await sharp({
      create: { width: 4, height: 4, channels: 3, background: { r: level, g: level, b: level } },
    })
      .png()
      .toBuffer();
    const blob = createHash('sha256').update(png).update(String(i)).digest('hex');
    blobs.set(blob, png);
    records.push({
      blob,
      source: 's',
      origPath: `${i}.png`,
      label,
      sourceLabel: label,
      width: 4,
      height: 4,
      channels: 3,
      format: 'png',
      synthetic: i % 2 === 1,
      gender: i < 4 ? 'female' : 'male',
    });
  }
  const memoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-memo-'));
  const ctx = {
    memo: () => new ItemMemo(memoDir),
    readBlob: (h: string) => blobs.get(h)!,
  } as unknown as StageContext<unknown>;
  const tally = { predicted: 0, memoised: 0 };
  const probabilities = await modelProbabilities(
    ctx,
    view,
    records.map((r) => ({ blob: r.blob, label: 0, source: 's' })),
    { provider: 'tfjs', threads: 0 },
    tally,
  );
  const cell = scoreCell(records, probabilities, {
    resamples: 100,
    confidence: 0.95,
    minGroupImages: 1,
    random: seededRandom(1),
  });

  // Predictions: happy, happy, sad, sad, neutral, neutral, neutral.
  const id = (e: Emotion) => EMOTIONS.indexOf(e);
  const expected = Array.from({ length: 7 }, () => new Array<number>(7).fill(0));
  for (const [t, p] of [
    ['happy', 'happy'],
    ['surprise', 'happy'],
    ['sad', 'sad'],
    ['angry', 'sad'],
    ['fear', 'neutral'],
    ['fear', 'neutral'],
    ['fear', 'neutral'],
  ] as Array<[Emotion, Emotion]>)
    expected[id(t)]![id(p)]!++;
  assert.deepEqual(cell.confusion, expected);
  assert.equal(cell.accuracy, Number((2 / 7).toFixed(4)));
  // F1 over the classes seen as a label or a prediction (all but disgust): happy 2/3, sad 2/3, the other four 0.
  assert.equal(cell.macroF1, Number(((2 / 3 + 2 / 3) / 6).toFixed(4)));
  assert.deepEqual(cell.perClassRecall, {
    angry: 0,
    disgust: null,
    fear: 0,
    happy: 1,
    neutral: null,
    sad: 1,
    surprise: 0,
  });
  assert.deepEqual(
    cell.normalisedConfusion[id('fear')],
    [0, 0, 0, 0, 1, 0, 0].map(Number),
    'every fear image went to neutral',
  );
  assert.deepEqual(cell.groups.gender.groups, {
    female: { images: 4, accuracy: 0.5 },
    male: { images: 3, accuracy: 0 },
  });
  assert.deepEqual(cell.groups.origin.groups, {
    generated: { images: 3, accuracy: 0 },
    real: { images: 4, accuracy: 0.5 },
  });
  assert.deepEqual(tally, { predicted: 7, memoised: 0 });

  // The same images again: all from the memo, the same scores.
  const again = await modelProbabilities(
    ctx,
    view,
    records.map((r) => ({ blob: r.blob, label: 0, source: 's' })),
    { provider: 'tfjs', threads: 0 },
    tally,
  );
  assert.deepEqual(tally, { predicted: 7, memoised: 7 });
  assert.deepEqual(
    scoreCell(records, again, { resamples: 100, confidence: 0.95, minGroupImages: 1, random: seededRandom(1) }),
    cell,
  );
  fs.rmSync(memoDir, { recursive: true, force: true });
});
