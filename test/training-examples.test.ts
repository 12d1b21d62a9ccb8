import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../lib/random.js';
import { encodePng } from '../datasets/images/codec/png.js';
import type { ManifestRecord } from '../datasets/record.js';
import { trainStage } from '../stages/train/stage.js';
import { PixelSource, selectExamples, splitValidation } from '../ml/training/examples.js';

const record = (blob: string, source: string, label: string, extra: Partial<ManifestRecord> = {}): ManifestRecord =>
  ({
    blob,
    source,
    label,
    origPath: blob,
    sourceLabel: label,
    width: 4,
    height: 4,
    channels: 1,
    format: 'png',
    synthetic: false,
    ...extra,
  }) as ManifestRecord;

test('trainOn picks sources, the artificial images or all; the test split is never trained on', () => {
  const records = [
    record('a', 'fer2013', 'angry'),
    record('b', 'nhfi', 'happy', { split: 'train' }),
    record('c', 'nhfi', 'sad', { split: 'test' }),
    record('d', 'gen', 'fear', { synthetic: true, split: 'val' }),
  ];
  assert.deepEqual(
    selectExamples(records, ['nhfi'], ['train', 'val']).map((e) => [e.blob, e.label]),
    [['b', 3]],
  );
  assert.deepEqual(
    selectExamples(records, 'artificial', ['train', 'val']).map((e) => e.blob),
    ['d'],
  );
  assert.deepEqual(
    selectExamples(records, 'all', ['train', 'val']).map((e) => e.blob),
    ['a', 'b', 'd'],
  );
  assert.throws(
    () => selectExamples(records, ['rafdb'], ['train']),
    /trainOn names "rafdb", not a source of the input \(sources: fer2013, gen, nhfi\)/,
  );
});

test('the validation split is stratified by class and seeded', () => {
  const examples = Array.from({ length: 70 }, (_, i) => ({ blob: `b${i}`, label: i % 7, source: 's' }));
  const a = splitValidation(examples, 0.2, seededRandom(1, 'v'));
  const b = splitValidation(examples, 0.2, seededRandom(1, 'v'));
  assert.deepEqual(a, b);
  for (let label = 0; label < 7; label++) assert.equal(a.validation.filter((e) => e.label === label).length, 2);
  assert.equal(a.train.length, 56);
  assert.notDeepEqual(splitValidation(examples, 0.2, seededRandom(2, 'v')).validation, a.validation);
});

test('batches are gray pixels / 255 in NHWC order, flipped left to right where asked', async () => {
  const data = Uint8Array.from([0, 51, 102, 153, 204, 255]); // 3 wide, 2 high
  const png = encodePng({ width: 3, height: 2, channels: 1, data });
  const source = new PixelSource(() => png, { inputSize: 2, channels: 1 }, 1);
  const square = encodePng({ width: 2, height: 2, channels: 1, data: Uint8Array.from([0, 255, 51, 102]) });
  const squares = new PixelSource(() => square, { inputSize: 2, channels: 1 }, 1);
  const batch = await squares.batch(
    [
      { blob: 'x', label: 3, source: 's' },
      { blob: 'x', label: 5, source: 's' },
    ],
    [false, true],
  );
  assert.deepEqual(Array.from(batch.labels), [3, 5]);
  assert.deepEqual(
    Array.from(batch.x, (v) => Math.round(v * 255)),
    [0, 255, 51, 102, 255, 0, 102, 51],
  );
  assert.equal((await source.batch([{ blob: 'y', label: 0, source: 's' }])).x.length, 4);
});

test('a transfer stage keys on its backbone model files; a paper-cnn stage on none', () => {
  const files = trainStage.modelFiles!({ type: 'train', params: { arch: 'transfer', backbone: 'mobileface' } });
  assert.deepEqual(Object.keys(files).sort(), ['mobileface.bin', 'mobileface.json']);
  assert.match(files['mobileface.json']!, /human-models[/\\]models[/\\]mobileface\.json$/);
  assert.deepEqual(trainStage.modelFiles!({ type: 'train', params: { arch: 'paper-cnn' } }), {});
});
