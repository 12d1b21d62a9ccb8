import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { hashPath, treeHash } from '../cache/tree.js';
import { Store } from '../cache/store.js';
import { datasetInputView } from '../engine/context.js';
import { FORMAT_READERS } from '../datasets/formats/index.js';
import { canonicalEmotion } from '../datasets/vocabulary.js';
import { parsePixelText } from '../datasets/images/prepare.js';
import type { DatasetOptions, SourceListing } from '../datasets/formats/listing.js';
import { makeProject } from './helpers.js';
import { fer2013Row, imageBytes } from './image-fixtures.js';

async function read(format: string, root: string, options: DatasetOptions = {}): Promise<SourceListing> {
  const store = new Store(path.join(root, '..', `.store-${path.basename(root)}`));
  const { files } = await hashPath(store.statCache, root);
  return FORMAT_READERS[format]!(
    datasetInputView('src', root, { format, ...options }, files, treeHash(files)),
    options,
  );
}

const labelsByPath = (listing: SourceListing) => Object.fromEntries(listing.images.map((i) => [i.origPath, i.label]));

test('class names in any common spelling resolve; contempt is known but not canonical', () => {
  for (const [name, emotion] of Object.entries({
    Anger: 'angry',
    HAPPINESS: 'happy',
    neutrality: 'neutral',
    sadness: 'sad',
    surprised: 'surprise',
    fearful: 'fear',
    disgusted: 'disgust',
  })) {
    assert.equal(canonicalEmotion(name), emotion, name);
  }
  assert.equal(canonicalEmotion('contempt'), null);
  assert.equal(canonicalEmotion('No_Face'), null);
  assert.equal(canonicalEmotion('bored'), undefined);
});

test('fer2013-csv reads FER2013 ids in their own order: 4 is sad and 6 is neutral', async () => {
  const dir = makeProject({
    'fer/fer2013.csv':
      [
        'emotion,pixels,Usage',
        fer2013Row(4, 1),
        fer2013Row(6, 2, 'PublicTest'),
        fer2013Row(0, 3, 'PrivateTest'),
        fer2013Row(5, 4),
      ].join('\n') + '\n',
  });
  const listing = await read('fer2013-csv', path.join(dir, 'fer'));
  assert.deepEqual(labelsByPath(listing), {
    'fer2013.csv:2': 'sad',
    'fer2013.csv:3': 'neutral',
    'fer2013.csv:4': 'angry',
    'fer2013.csv:5': 'surprise',
  });
  assert.deepEqual(
    listing.images.map((i) => [i.split, i.fields?.usage]),
    [
      ['train', 'Training'],
      ['val', 'PublicTest'],
      ['test', 'PrivateTest'],
      ['train', 'Training'],
    ],
  );
  assert.deepEqual(listing.skipped, []);
});

test('a FER2013 row with an unknown id is skipped and named by its line; a wrong pixel count is left to decoding', async () => {
  const dir = makeProject({
    'fer/fer2013.csv':
      [
        'emotion,pixels,Usage',
        fer2013Row(3, 1),
        fer2013Row(3, 2, 'Training', 2000),
        fer2013Row(9, 3),
        ',1 2,Training',
      ].join('\n') + '\n',
  });
  const listing = await read('fer2013-csv', path.join(dir, 'fer'));
  // The pixels are counted where they are parsed (merge's workers), under the same line number.
  assert.deepEqual(
    listing.images.map((i) => i.origPath),
    ['fer2013.csv:2', 'fer2013.csv:3'],
  );
  assert.throws(
    () => parsePixelText(String(listing.images[1]!.bytes.kind === 'pixels' && listing.images[1]!.bytes.read()), 2304),
    /2000 pixels, expected 2304/,
  );
  assert.deepEqual(listing.skipped, [
    { origPath: 'fer2013.csv:4', reason: 'emotion "9" is not a FER2013 id 0–6' },
    { origPath: 'fer2013.csv:5', reason: 'emotion "" is not a FER2013 id 0–6' },
  ]);
});

/** The gray values of each image a listing holds, as merge's workers parse them. */
const pixelsOf = (listing: SourceListing) =>
  listing.images.map((i) => (i.bytes.kind === 'pixels' ? [...parsePixelText(String(i.bytes.read()), 2304)] : []));

test("FER2013's other shapes read into the same images: Kaggle's quoted train.csv (CRLF, BOM) and icml_face_data.csv", async () => {
  const rows = [
    [4, 1, 'Training'],
    [6, 2, 'PublicTest'],
    [0, 3, 'PrivateTest'],
  ] as const;
  const pixels = (seed: number) => fer2013Row(0, seed).split(',')[1]!;
  const dir = makeProject({
    'original/fer2013.csv':
      ['emotion,pixels,Usage', ...rows.map(([id, seed, usage]) => fer2013Row(id, seed, usage))].join('\n') + '\n',
    // Kaggle's train.csv: a byte-order mark, CRLF line ends, each pixels field quoted, no Usage.
    'kaggle/train.csv':
      '\uFEFF' + ['emotion,pixels', ...rows.map(([id, seed]) => `${id},"${pixels(seed)}"`)].join('\r\n') + '\r\n',
    // icml_face_data.csv: a space after each comma of the header, Usage before pixels.
    'icml/icml_face_data.csv':
      ['emotion, Usage, pixels', ...rows.map(([id, seed, usage]) => `${id},${usage},${pixels(seed)}`)].join('\n') +
      '\n',
  });
  const original = await read('fer2013-csv', path.join(dir, 'original'));
  const kaggle = await read('fer2013-csv', path.join(dir, 'kaggle'));
  const icml = await read('fer2013-csv', path.join(dir, 'icml'));
  for (const listing of [original, kaggle, icml]) {
    assert.deepEqual(listing.skipped, []);
    assert.deepEqual(
      listing.images.map((i) => i.label),
      ['sad', 'neutral', 'angry'],
    );
    assert.deepEqual(pixelsOf(listing), pixelsOf(original));
  }
  assert.deepEqual(
    kaggle.images.map((i) => i.origPath),
    ['train.csv:2', 'train.csv:3', 'train.csv:4'],
  );
  assert.deepEqual(
    icml.images.map((i) => [i.split, i.fields?.usage]),
    [
      ['train', 'Training'],
      ['val', 'PublicTest'],
      ['test', 'PrivateTest'],
    ],
  );
  // Without Usage the file's name is its split: Kaggle's train.csv is FER2013's Training part.
  assert.deepEqual(
    kaggle.images.map((i) => [i.split, i.fields]),
    Array(3).fill(['train', undefined]),
  );
});

test("Kaggle's test.csv (no emotion column) is refused, naming the labelled files; a file without pixels is named", async () => {
  const dir = makeProject({
    'kaggle/test.csv': `pixels\n"${fer2013Row(0, 1).split(',')[1]}"\n`,
    'kaggle/example_submission.csv': 'id,emotion\n1,0\n',
  });
  const listing = await read('fer2013-csv', path.join(dir, 'kaggle'));
  assert.equal(listing.images.length, 0);
  assert.deepEqual(
    listing.skipped.map((s) => s.origPath),
    ['example_submission.csv:1', 'test.csv:1'],
  );
  assert.match(listing.skipped[0]!.reason, /header names no "pixels" column \(found "id,emotion"\)/);
  assert.match(
    listing.skipped[1]!.reason,
    /no "emotion" column: the file is unlabelled .* use the labelled fer2013\.csv or icml_face_data\.csv/,
  );
});

test('folders: class folders in any spelling, optional split folders, a labels map, unknown folders skipped', async () => {
  const dir = makeProject();
  const png = await imageBytes(1);
  for (const rel of [
    'nhfi/train/anger/a.png',
    'nhfi/train/neutrality/b.png',
    'nhfi/test/Happiness/c.png',
    'nhfi/test/contempt/d.png',
    'nhfi/test/bored/e.png',
    'nhfi/test/bored/f.png',
    'nhfi/test/sad/notes.txt',
    'nhfi/readme.png',
  ]) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), png);
  }
  const listing = await read('folders', path.join(dir, 'nhfi'));
  assert.deepEqual(labelsByPath(listing), {
    'test/Happiness/c.png': 'happy',
    'train/anger/a.png': 'angry',
    'train/neutrality/b.png': 'neutral',
  });
  assert.deepEqual(listing.images.map((i) => i.split).sort(), ['test', 'train', 'train']);
  assert.deepEqual(listing.dropped, { contempt: 1 });
  const reasons = listing.skipped.map((s) => `${s.origPath} ${s.count ?? 1}: ${s.reason.split(';')[0]}`).sort();
  assert.deepEqual(reasons, [
    'readme.png 1: not inside a class folder (expected <class>/<image>)',
    'test/bored/ 2: unknown class folder "bored" (class names like angry, disgust, fear, happy, neutral, sad, surprise)',
    'test/sad/notes.txt 1: not an image file (.txt)',
  ]);
  const mapped = await read('folders', path.join(dir, 'nhfi'), { labels: { bored: 'neutral', anger: null } });
  assert.equal(labelsByPath(mapped)['test/bored/e.png'], 'neutral');
  assert.equal(labelsByPath(mapped)['train/anger/a.png'], undefined);
  assert.deepEqual(mapped.dropped, { anger: 1, contempt: 1 });
});

test('affectnet reads its own ids: 0 is neutral and 6 is angry; 7–10 are dropped and counted by name', async () => {
  const dir = makeProject();
  const png = await imageBytes(2, { channels: 3 });
  for (const rel of [
    'an/0/x.png',
    'an/6/y.png',
    'an/1/z.png',
    'an/7/c.png',
    'an/8/n.png',
    'an/10/f.png',
    'an/11/q.png',
  ]) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), png);
  }
  const listing = await read('affectnet', path.join(dir, 'an'));
  assert.deepEqual(labelsByPath(listing), { '0/x.png': 'neutral', '1/z.png': 'happy', '6/y.png': 'angry' });
  assert.deepEqual(listing.dropped, { contempt: 1, none: 1, 'no-face': 1 });
  assert.equal(listing.skipped.length, 1);
  assert.match(listing.skipped[0]!.reason, /unknown class folder "11" \(AffectNet ids 0–10 or class names\)/);
});

test('raf-db reads the label list (1 surprise … 7 neutral) and finds aligned images; missing ones are listed', async () => {
  const dir = makeProject({
    'raf/EmoLabel/list_patition_label.txt':
      'train_00001.jpg 1\ntrain_00002.jpg 7\ntest_0001.jpg 6\ntest_0002.jpg 4\ntest_0003.jpg x\n',
  });
  const jpg = await imageBytes(3, { channels: 3, format: 'jpeg' });
  fs.mkdirSync(path.join(dir, 'raf/Image/aligned'), { recursive: true });
  for (const name of ['train_00001_aligned.jpg', 'train_00002_aligned.jpg', 'test_0001_aligned.jpg'])
    fs.writeFileSync(path.join(dir, 'raf/Image/aligned', name), jpg);
  const listing = await read('raf-db', path.join(dir, 'raf'));
  assert.deepEqual(labelsByPath(listing), {
    'Image/aligned/test_0001_aligned.jpg': 'angry',
    'Image/aligned/train_00001_aligned.jpg': 'surprise',
    'Image/aligned/train_00002_aligned.jpg': 'neutral',
  });
  assert.deepEqual(
    listing.skipped.map((s) => s.origPath),
    ['EmoLabel/list_patition_label.txt:4', 'EmoLabel/list_patition_label.txt:5'],
  );
  assert.match(listing.skipped[0]!.reason, /image test_0002.jpg is listed but not found/);
});

test('raf-db keeps its manual gender, race and age range as annotations; "unsure" gender is left out', async () => {
  const landmarks = '10 20\n30 20\n20 30\n12 40\n28 40\n';
  const dir = makeProject({
    'raf/EmoLabel/list_patition_label.txt': 'train_00001.jpg 4\ntest_0001.jpg 6\n',
    // Lines 6–8: gender (0 male, 1 female, 2 unsure), race (0 Caucasian, 1 African-American, 2 Asian), age group (0–4).
    'raf/Annotation/manual/train_00001_manu_attri.txt': `${landmarks}1\n2\n2\n`,
    'raf/Annotation/manual/test_0001_manu_attri.txt': `${landmarks}2\n1\n4\n`,
  });
  const jpg = await imageBytes(4, { channels: 3, format: 'jpeg' });
  fs.mkdirSync(path.join(dir, 'raf/Image/aligned'), { recursive: true });
  for (const name of ['train_00001_aligned.jpg', 'test_0001_aligned.jpg'])
    fs.writeFileSync(path.join(dir, 'raf/Image/aligned', name), jpg);
  const listing = await read('raf-db', path.join(dir, 'raf'));
  const byPath = Object.fromEntries(listing.images.map((i) => [i.origPath, i.annotations]));
  assert.deepEqual(byPath['Image/aligned/train_00001_aligned.jpg'], {
    gender: 'female',
    ethnicity: 'asian',
    ageMin: 20,
    ageMax: 39,
  });
  assert.deepEqual(byPath['Image/aligned/test_0001_aligned.jpg'], { ethnicity: 'black', ageMin: 70, ageMax: 120 });
});
