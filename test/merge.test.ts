import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { sha256 } from '../cache/hash.js';
import { Store } from '../cache/store.js';
import { cli, makeProject } from './helpers.js';
import { fer2013Row, imageBytes } from './image-fixtures.js';

interface Record_ {
  blob: string;
  source: string;
  origPath: string;
  label: string;
  width: number;
  height: number;
  channels: number;
  split?: string;
}

/** Three small sources in their real layouts, plus a pipeline merging them. */
async function sourcesProject(extraMerge = ''): Promise<string> {
  const dir = makeProject({
    'data/fer2013.csv':
      ['emotion,pixels,Usage', fer2013Row(4, 1), fer2013Row(6, 2, 'PrivateTest'), fer2013Row(3, 3)].join('\n') + '\n',
  });
  const put = async (rel: string, bytes: Buffer | Promise<Buffer>) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), await bytes);
  };
  await put('data/nhfi/anger/n1.png', imageBytes(10, { size: 32 }));
  await put('data/nhfi/happy/n2.png', imageBytes(11, { size: 32 }));
  await put('data/nhfi/contempt/n3.png', imageBytes(12, { size: 32 }));
  await put('data/affectnet/0/a1.jpg', imageBytes(20, { size: 40, channels: 3, format: 'jpeg' }));
  await put('data/affectnet/6/a2.png', imageBytes(21, { size: 40, channels: 3 }));
  // The same picture as nhfi/happy/n2.png under another label: a duplicate whose labels disagree.
  await put('data/affectnet/2/dup.png', imageBytes(11, { size: 32 }));
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    `version: 1
seed: 5
datasets:
  fer2013: { format: fer2013-csv, path: data/fer2013.csv }
  nhfi: { format: folders, path: data/nhfi }
  affectnet: { format: affectnet, path: data/affectnet }
stages:
  merge:
    type: merge
    inputs: [fer2013, nhfi, affectnet]
${extraMerge}`,
  );
  return dir;
}

function outputs(dir: string): {
  manifest: Record_[];
  manifestText: string;
  summary: Record<string, unknown>;
  store: Store;
} {
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8'));
  const store = new Store(path.join(dir, '.fer-dag'));
  const files = lock.stages.merge.outputs.files;
  const manifestText = store.readBlob(files['manifest.jsonl'].hash).toString();
  return {
    manifestText,
    manifest: manifestText
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record_),
    summary: JSON.parse(store.readBlob(files['summary.json'].hash).toString()) as Record<string, unknown>,
    store,
  };
}

test('merge turns three source formats into one manifest with canonical labels, keeping original bytes', async () => {
  const dir = await sourcesProject();
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const { manifest, summary, store } = outputs(dir);
  assert.deepEqual(
    manifest.map((r) => `${r.source} ${r.origPath} ${r.label}`),
    [
      'fer2013 fer2013.csv:2 sad',
      'fer2013 fer2013.csv:3 neutral',
      'fer2013 fer2013.csv:4 happy',
      'nhfi anger/n1.png angry',
      'nhfi happy/n2.png happy',
      'affectnet 0/a1.jpg neutral',
      'affectnet 6/a2.png angry',
    ],
  );
  const a1 = manifest.find((r) => r.origPath === '0/a1.jpg')!;
  assert.equal(a1.blob, sha256(fs.readFileSync(path.join(dir, 'data/affectnet/0/a1.jpg'))));
  assert.deepEqual([a1.width, a1.height, a1.channels], [40, 40, 3]);
  const row = manifest[0]!;
  const rowImage = sharp(store.readBlob(row.blob));
  const [meta, pixels] = [await rowImage.metadata(), await rowImage.toColourspace('b-w').raw().toBuffer()];
  assert.deepEqual(
    [meta.format, meta.width, meta.height, meta.channels, pixels[1]],
    ['png', 48, 48, 1, (7 + 13) % 256],
  );
  assert.deepEqual([row.width, row.height, row.channels], [48, 48, 1]);
  assert.equal(manifest[1]!.split, 'test');

  const sources = summary.sources as Record<
    string,
    { perClass: Record<string, number>; dropped: Record<string, number>; duplicates: number }
  >;
  assert.deepEqual(sources.nhfi!.dropped, { contempt: 1 });
  assert.equal(sources.affectnet!.duplicates, 1);
  assert.deepEqual((summary.merged as { perClass: Record<string, number> }).perClass, {
    angry: 2,
    disgust: 0,
    fear: 0,
    happy: 2,
    neutral: 2,
    sad: 1,
    surprise: 0,
  });
  const [duplicate] = summary.duplicates as {
    kept: { source: string; label: string };
    duplicate: { source: string; label: string };
    labelsDisagree: boolean;
  }[];
  assert.deepEqual(
    [
      duplicate!.kept.source,
      duplicate!.kept.label,
      duplicate!.duplicate.source,
      duplicate!.duplicate.label,
      duplicate!.labelsDisagree,
    ],
    ['nhfi', 'happy', 'affectnet', 'sad', true],
  );
  assert.match(result.stdout, /\[merge\] left out non-canonical classes: 1 contempt \(nhfi\)/);
  assert.match(result.stdout, /\[merge\] 1 duplicate image kept once, 1 with disagreeing labels/);
});

test('a corrupt or truncated image and an empty dataset are skipped and listed; the rest is merged', async () => {
  const dir = await sourcesProject();
  const good = fs.readFileSync(path.join(dir, 'data/affectnet/6/a2.png'));
  fs.writeFileSync(path.join(dir, 'data/affectnet/6/truncated.png'), good.subarray(0, Math.floor(good.length / 2)));
  fs.writeFileSync(path.join(dir, 'data/nhfi/happy/garbage.jpg'), 'this is not a jpeg');
  fs.mkdirSync(path.join(dir, 'data/empty'));
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs
      .readFileSync(path.join(dir, 'p.yaml'), 'utf8')
      .replace('  affectnet: { format', '  empty: { format: folders, path: data/empty }\n  affectnet: { format')
      .replace('inputs: [fer2013, nhfi, affectnet]', 'inputs: [fer2013, nhfi, affectnet, empty]'),
  );
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    /\[merge\] warning: skipped 3 of 11 inputs \(27 %, more than 5 %\): nhfi: happy\/garbage\.jpg \(cannot decode: /,
  );
  assert.match(
    result.stdout,
    /empty: \. \(the source holds no images\); all are listed under "skipped" in merge's summary\.json/,
  );
  const { manifest, summary } = outputs(dir);
  assert.equal(manifest.length, 7);
  const skipped = (summary.skipped as { source: string; origPath: string; reason: string }[]).map(
    (s) => `${s.source} ${s.origPath}: ${s.reason.slice(0, 15)}`,
  );
  assert.deepEqual(skipped.sort(), [
    'affectnet 6/truncated.png: cannot decode: ',
    'empty .: the source hold',
    'nhfi happy/garbage.jpg: cannot decode: ',
  ]);
});

test('merging the same sources twice gives byte-identical manifests; renaming a source image changes no blob', async () => {
  const first = await sourcesProject();
  const second = await sourcesProject();
  await cli(first, 'run', 'p.yaml');
  await cli(second, 'run', 'p.yaml');
  assert.equal(outputs(first).manifestText, outputs(second).manifestText);

  fs.renameSync(path.join(second, 'data/nhfi/anger/n1.png'), path.join(second, 'data/nhfi/anger/renamed.png'));
  const rerun = await cli(second, 'run', 'p.yaml');
  assert.match(rerun.stdout, /run {6}merge: dataset nhfi changed/);
  const blobs = (dir: string) =>
    outputs(dir)
      .manifest.map((r) => r.blob)
      .sort();
  assert.deepEqual(blobs(second), blobs(first));
  assert.ok(outputs(second).manifest.some((r) => r.origPath === 'anger/renamed.png'));
});

test('normalize writes converted blobs; a seeded downsample caps each class the same way every time', async () => {
  const dir = await sourcesProject(`    params:
      normalize: { size: 24, channels: 1 }
      downsample: {}
`);
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs
      .readFileSync(path.join(dir, 'p.yaml'), 'utf8')
      .replace(
        'fer2013: { format: fer2013-csv, path: data/fer2013.csv }',
        'fer2013: { format: fer2013-csv, path: data/fer2013.csv, downsample: { perClass: 1 } }',
      ),
  );
  fs.writeFileSync(
    path.join(dir, 'data/fer2013.csv'),
    ['emotion,pixels,Usage', ...Array.from({ length: 6 }, (_, i) => fer2013Row(3, 100 + i))].join('\n') + '\n',
  );
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const { manifest, summary, store } = outputs(dir);
  for (const record of manifest) assert.deepEqual([record.width, record.height, record.channels], [24, 24, 1]);
  const meta = await sharp(store.readBlob(manifest.find((r) => r.source === 'affectnet')!.blob)).metadata();
  assert.deepEqual([meta.format, meta.width, meta.channels], ['png', 24, 1]);
  const fer = manifest.filter((r) => r.source === 'fer2013');
  assert.equal(fer.length, 1);
  assert.deepEqual((summary.sources as Record<string, { downsampled: unknown }>).fer2013!.downsampled, {
    perClass: 1,
    before: { angry: 0, disgust: 0, fear: 0, happy: 6, neutral: 0, sad: 0, surprise: 0 },
  });

  const again = await sourcesProject(`    params:
      normalize: { size: 24, channels: 1 }
`);
  fs.copyFileSync(path.join(dir, 'p.yaml'), path.join(again, 'p.yaml'));
  fs.copyFileSync(path.join(dir, 'data/fer2013.csv'), path.join(again, 'data/fer2013.csv'));
  await cli(again, 'run', 'p.yaml');
  assert.equal(outputs(again).manifest.find((r) => r.source === 'fer2013')!.origPath, fer[0]!.origPath);
});

test('adding a source decodes only its images: the rest come from the per-item memo', async () => {
  const dir = await sourcesProject();
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs
      .readFileSync(path.join(dir, 'p.yaml'), 'utf8')
      .replace('inputs: [fer2013, nhfi, affectnet]', 'inputs: [fer2013, nhfi]'),
  );
  await cli(dir, 'run', 'p.yaml');
  const metrics = () => {
    const lock = JSON.parse(fs.readFileSync(path.join(dir, 'p.lock.json'), 'utf8'));
    return new Store(path.join(dir, '.fer-dag')).getRecord(lock.stages.merge.key)!.metrics as {
      decoded: number;
      fromMemo: number;
    };
  };
  assert.deepEqual(metrics(), { ...metrics(), decoded: 5, fromMemo: 0 });
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs
      .readFileSync(path.join(dir, 'p.yaml'), 'utf8')
      .replace('inputs: [fer2013, nhfi]', 'inputs: [fer2013, nhfi, affectnet]'),
  );
  const rerun = await cli(dir, 'run', 'p.yaml');
  assert.equal(rerun.code, 0);
  // affectnet's duplicate of n2.png has the same bytes as nhfi's, so it too comes from the memo: 2 decoded,
  // 5 + 1 remembered.
  assert.deepEqual(metrics(), { ...metrics(), decoded: 2, fromMemo: 6 });
  assert.match(rerun.stdout + rerun.stderr, /decoded 2 images, 6 remembered from earlier runs/);
  assert.equal(new Store(path.join(dir, '.fer-dag')).memo('merge-decode').size, 7);
});

test("export lays the merged dataset out as the paper's class-id folders, hard-linked to the store with --link", async () => {
  const dir = await sourcesProject();
  const stale = await cli(dir, 'export', 'p.yaml', 'merge', 'out');
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /stage merge is never run; run `fer-dag run p\.yaml --stage merge` first/);

  await cli(dir, 'run', 'p.yaml');
  const result = await cli(dir, 'export', 'p.yaml', 'merge', 'out', '--link');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /exported stage merge: 2 output files, 7 images in out\/<class id 0-6>\/ \(7 hard links/);
  const listing = (id: string) => fs.readdirSync(path.join(dir, 'out', id)).sort();
  assert.deepEqual(listing('4'), ['affectnet__0_a1.jpg', 'fer2013__fer2013.csv_3.png']);
  assert.deepEqual(listing('0'), ['affectnet__6_a2.png', 'nhfi__anger_n1.png']);
  assert.deepEqual(listing('5'), ['fer2013__fer2013.csv_2.png']);
  const { manifest, store } = outputs(dir);
  const exported = fs.statSync(path.join(dir, 'out/0/nhfi__anger_n1.png'));
  assert.equal(
    exported.ino,
    fs.statSync(store.blobPath(manifest.find((r) => r.origPath === 'anger/n1.png')!.blob)).ino,
  );
  assert.ok(fs.existsSync(path.join(dir, 'out/manifest.jsonl')));

  const again = await cli(dir, 'export', 'p.yaml', 'merge', 'out');
  assert.equal(again.code, 2);
  assert.match(again.stderr, /out is not empty; export into a new folder, or pass --overwrite/);
  const bySubgroup = await cli(dir, 'export', 'p.yaml', 'merge', 'sub', '--by', 'subgroup');
  assert.equal(bySubgroup.code, 1);
  assert.match(bySubgroup.stderr, /has no image with gender, age and ethnicity: export a stage at or after agr/);
});
