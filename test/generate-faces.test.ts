import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { Store } from '../cache/store.js';
import type { EngineEvent } from '../engine/events.js';
import type { Lockfile } from '../engine/lockfile.js';
import { runPipeline } from '../engine/scheduler.js';
import { loadPipeline } from '../engine/spec/load.js';
import type { FaceAnnotation } from '../stages/generate-faces/stage.js';
import type { NearDuplicateTruth } from '../stages/generate-faces/plant.js';
import { makeProject } from './helpers.js';
import { builtInRegistry } from '../stages/registry.js';

/** One stage per style, tiny, so the whole file runs in a few seconds; `crowd` is big enough for statistics. */
const STAGES = `
  fer: { type: generate-faces, params: { style: fer2013, perClass: 6, labelNoise: 0.2 } }
  nhfi: { type: generate-faces, params: { style: nhfi, perClass: 3, size: 32, contempt: 2 } }
  aff: { type: generate-faces, params: { style: affectnet, perClass: 3, size: 40, contempt: 2, classSkew: {} } }
`;
const CROWD = `  crowd: { type: generate-faces, params: { style: fer2013, perClass: 40, classSkew: {} } }\n`;

interface Run {
  lock: Lockfile;
  events: EngineEvent[];
  text(stage: string, rel: string): string;
  bytes(stage: string, rel: string): Buffer;
  annotations(stage: string): FaceAnnotation[];
}

async function runProject(seed: number, stages: string): Promise<Run> {
  const dir = makeProject({ 'p.yaml': `version: 1\nseed: ${seed}\nstages:${stages}` });
  const loaded = loadPipeline(path.join(dir, 'p.yaml'), builtInRegistry);
  assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.diagnostics));
  const events: EngineEvent[] = [];
  const summary = await runPipeline(loaded.value, new Store(loaded.value.storeDir), {
    jobs: 2,
    emit: (e) => events.push(e),
  });
  const store = new Store(path.join(dir, '.fer-dag'));
  const bytes = (stage: string, rel: string) => {
    const file = summary.lock.stages[stage]!.outputs.files[rel];
    assert.ok(file, `stage ${stage} wrote no ${rel}`);
    return store.readBlob(file.hash);
  };
  const text = (stage: string, rel: string) => bytes(stage, rel).toString('utf8');
  const annotations = (stage: string) =>
    text(stage, 'annotations.jsonl')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as FaceAnnotation);
  return { lock: summary.lock, events, text, bytes, annotations };
}

// Every test reads the same run; it starts once, on first use.
let shared: Promise<Run> | undefined;
const main = () => (shared ??= runProject(5, STAGES + CROWD));

test('fer2013 style: the original CSV layout with FER2013 label ids', async () => {
  const run = await main();
  const lines = run.text('fer', 'fer2013.csv').trimEnd().split('\n');
  assert.equal(lines[0], 'emotion,pixels,Usage');
  const annotations = run.annotations('fer');
  assert.equal(annotations.length, lines.length - 1, 'one annotation per CSV row');
  for (const row of lines.slice(1)) {
    const [emotion, pixels, usage] = row.split(',');
    assert.match(emotion!, /^[0-6]$/);
    const values = pixels!.split(' ').map(Number);
    assert.equal(values.length, 2304);
    assert.ok(values.every((v) => Number.isInteger(v) && v >= 0 && v <= 255));
    assert.ok(['Training', 'PublicTest', 'PrivateTest'].includes(usage!), usage);
  }
  const fer2013Id = { angry: 0, disgust: 1, fear: 2, happy: 3, sad: 4, surprise: 5, neutral: 6 } as Record<
    string,
    number
  >;
  const seen = new Set<string>();
  for (const a of annotations) {
    const line = Number(/^fer2013\.csv:(\d+)$/.exec(a.origPath)![1]); // 1-based, the header is line 1
    assert.equal(Number(lines[line - 1]!.split(',')[0]), fer2013Id[a.givenLabel], `${a.origPath} is ${a.givenLabel}`);
    seen.add(a.givenLabel);
  }
  assert.ok(seen.has('sad') && seen.has('neutral'), 'the run has sad (id 4) and neutral (id 6) rows to check');
  assert.equal(annotations[0]!.origPath, 'fer2013.csv:2');
  assert.ok(!annotations.some((a) => a.trueLabel === 'contempt'), 'FER2013 has no contempt class');
  assert.deepEqual(JSON.parse(run.text('fer', 'dataset.json')), {
    format: 'fer2013-csv',
    style: 'fer2013',
    generator: 'fer-dag procedural faces v1',
  });
});

test('affectnet style: folders named by AffectNet ids, RGB PNGs of the requested size, some contempt', async () => {
  const run = await main();
  const annotations = run.annotations('aff');
  const affectNetId: Record<string, string> = {
    neutral: '0',
    happy: '1',
    sad: '2',
    surprise: '3',
    fear: '4',
    disgust: '5',
    angry: '6',
    contempt: '7',
  };
  for (const a of annotations)
    assert.equal(a.origPath.split('/')[0], affectNetId[a.givenLabel], `${a.origPath} is ${a.givenLabel}`);
  assert.ok(annotations.some((a) => a.givenLabel === 'angry' && a.origPath.startsWith('6/')));
  assert.ok(annotations.some((a) => a.givenLabel === 'neutral' && a.origPath.startsWith('0/')));
  assert.equal(annotations.filter((a) => a.trueLabel === 'contempt' && a.origPath.startsWith('7/')).length, 2);
  const image = await sharp(run.bytes('aff', annotations[0]!.origPath)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([image.info.width, image.info.height, image.info.channels], [40, 40, 3]);
  assert.equal(JSON.parse(run.text('aff', 'dataset.json')).format, 'affectnet');
});

test("nhfi style: NHFI's Kaggle folder names, gray PNGs, some contempt", async () => {
  const run = await main();
  const annotations = run.annotations('nhfi');
  const folders = new Set(annotations.map((a) => a.origPath.split('/')[0]));
  for (const folder of folders)
    assert.ok(
      ['anger', 'contempt', 'disgust', 'fear', 'happy', 'neutrality', 'sad', 'surprise'].includes(folder!),
      folder,
    );
  assert.ok(annotations.some((a) => a.givenLabel === 'angry' && a.origPath.startsWith('anger/')));
  assert.ok(annotations.some((a) => a.givenLabel === 'neutral' && a.origPath.startsWith('neutrality/')));
  assert.equal(annotations.filter((a) => a.origPath.startsWith('contempt/')).length, 2);
  const files = Object.keys(run.lock.stages.nhfi!.outputs.files)
    .filter((rel) => rel.endsWith('.png'))
    .sort();
  assert.deepEqual(
    files,
    annotations.map((a) => a.origPath),
    'every image is annotated; annotations sorted by origPath',
  );
  const image = await sharp(run.bytes('nhfi', files[0]!)).metadata(); // raw() would expand gray to sRGB
  assert.deepEqual([image.width, image.height, image.channels, image.space], [32, 32, 1, 'b-w']);
  assert.equal(JSON.parse(run.text('nhfi', 'dataset.json')).format, 'folders');
});

test('label noise: exactly round(labelNoise × n) images are filed under another emotion, the true one kept', async () => {
  const run = await main();
  for (const [stage, noise] of [
    ['fer', 0.2],
    ['crowd', 0.1],
    ['aff', 0.1],
  ] as const) {
    const emotions = run.annotations(stage).filter((a) => a.trueLabel !== 'contempt');
    const flipped = emotions.filter((a) => a.givenLabel !== a.trueLabel);
    assert.equal(flipped.length, Math.round(noise * emotions.length), stage);
    const record = run.events.find((e) => e.type === 'stage-done' && e.stage === stage);
    assert.ok(record, `${stage} ran`);
  }
  const crowd = run.annotations('crowd');
  assert.ok(
    new Set(crowd.filter((a) => a.givenLabel !== a.trueLabel).map((a) => a.givenLabel)).size >= 4,
    'wrong labels spread over the other emotions',
  );
  assert.ok(
    run.events.some(
      (e) => e.type === 'stage-progress' && e.stage === 'crowd' && e.done === e.total && e.total === crowd.length,
    ),
  );
});

test('attributes are skewed: common subgroups are many times as frequent as rare ones, some are missing', async () => {
  const run = await main();
  const counts = new Map<string, number>();
  for (const a of run.annotations('crowd')) {
    const key = `${a.gender}-${a.age}-${a.ethnicity}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const [low, high] = { child: [0, 14], young: [15, 29], adult: [30, 64], old: [65, 120] }[a.age];
    assert.ok(a.ageYears >= low! && a.ageYears <= high!, `${a.ageYears} years is ${a.age}`);
  }
  const sorted = [...counts.values()].sort((a, b) => b - a);
  assert.ok(sorted[0]! >= 5 * sorted.at(-1)!, `most common ${sorted[0]}, rarest ${sorted.at(-1)}`);
  assert.ok(counts.size < 40, `${counts.size} of 40 gender-age-ethnicity subgroups present`);
  const whiteOrAsian = run
    .annotations('crowd')
    .filter((a) => a.ethnicity === 'white' || a.ethnicity === 'asian').length;
  assert.ok(whiteOrAsian > 0.6 * run.annotations('crowd').length);
});

test('the same seed gives byte-identical outputs; another seed gives different ones', async () => {
  const [first, again, other] = [await main(), await runProject(5, STAGES), await runProject(6, STAGES)];
  for (const stage of ['fer', 'nhfi', 'aff']) {
    assert.equal(again.lock.stages[stage]!.outputs.tree, first.lock.stages[stage]!.outputs.tree, `${stage} reproduces`);
    assert.notEqual(
      other.lock.stages[stage]!.outputs.tree,
      first.lock.stages[stage]!.outputs.tree,
      `${stage} depends on the seed`,
    );
  }
});

test('bad params are reported when the pipeline loads: unknown fields, and fer2013 at a size other than 48', () => {
  const dir = makeProject({
    'p.yaml':
      'version: 1\nstages:\n  a: { type: generate-faces, params: { style: nhfi, perClas: 3 } }\n  b: { type: generate-faces, params: { style: fer2013, size: 32 } }\n',
  });
  const loaded = loadPipeline(path.join(dir, 'p.yaml'), builtInRegistry);
  assert.ok(!loaded.ok);
  const messages = loaded.diagnostics.map((d) => d.message).join('\n');
  assert.match(messages, /unknown property "perClas"/);
  assert.match(messages, /stages\.b\.params\.size must be 48/);
});

// Near-duplicates: the small stages above, planted, beside a second AffectNet-style stage on the same pool.
const POOL = '{ pool: faces, photos: 8, size: 64 }';
const near = (extra: string) => `nearDuplicates: { ${extra}shared: ${POOL} }`;
const PLANTED = `
  fer: { type: generate-faces, params: { style: fer2013, perClass: 6, labelNoise: 0.2, ${near('within: 7, ')} } }
  nhfi:
    type: generate-faces
    params: { style: nhfi, perClass: 3, size: 32, contempt: 2, ${near('within: 6, perImage: 3, ')} }
  aff:
    type: generate-faces
    params:
      { style: affectnet, perClass: 3, size: 40, contempt: 2, classSkew: {},
        ${near('within: 7, labelConflicts: 0.3, ')} }
  aff2: { type: generate-faces, params: { style: affectnet, perClass: 2, size: 40, ${near('')} } }
  merge: { type: merge, inputs: [fer, nhfi, aff] }
`;
let plantedRun: Promise<Run> | undefined;
const planted = () => (plantedRun ??= runProject(5, PLANTED));

type Truth = NearDuplicateTruth;
const truthOf = (run: Run, stage: string): Truth[] =>
  run
    .text(stage, 'near-duplicates.jsonl')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Truth);

/** An image's raw pixels, from its CSV row or its PNG, with one value a pixel for gray. */
async function pixelsOf(run: Run, stage: string, origPath: string): Promise<{ data: Buffer; side: number }> {
  const line = /^fer2013\.csv:(\d+)$/.exec(origPath);
  if (line) {
    const row = run.text(stage, 'fer2013.csv').split('\n')[Number(line[1]) - 1]!;
    return { data: Buffer.from(row.split(',')[1]!.split(' ').map(Number)), side: 48 };
  }
  const png = run.bytes(stage, origPath);
  const { channels } = await sharp(png).metadata();
  const image = channels === 1 ? sharp(png).extractChannel(0) : sharp(png).removeAlpha();
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return { data, side: info.width };
}

test('planted copies differ in bytes from their originals; every edit occurs; some labels conflict', async () => {
  const run = await planted();
  for (const stage of ['fer', 'nhfi', 'aff']) {
    const truth = truthOf(run, stage);
    const originals = new Map(truth.filter((t) => t.transformation === 'original').map((t) => [t.photo, t]));
    const copies = truth.filter((t) => t.photo.startsWith('own:') && t.transformation !== 'original');
    assert.equal(copies.length, stage === 'nhfi' ? 6 : 7, stage);
    const edits = new Set(copies.map((t) => t.transformation));
    const expected = ['resize', 'jpeg30', 'crop', 'shift', 'brightness', 'flip', ...(stage === 'aff' ? ['gray'] : [])];
    assert.deepEqual([...edits].sort(), expected.sort(), `${stage}: every edit, gray for colour`);
    for (const copy of copies) {
      const original = originals.get(copy.photo);
      assert.ok(original, `${copy.origPath}: its original is in the truth`);
      const [a, b] = [await pixelsOf(run, stage, original.origPath), await pixelsOf(run, stage, copy.origPath)];
      assert.ok(!a.data.equals(b.data), `${stage} ${copy.origPath} (${copy.transformation}) differs from its original`);
      if (copy.transformation === 'resize' && stage !== 'fer') assert.ok(b.side < a.side, 'stored smaller');
      else assert.equal(b.side, a.side, `${copy.origPath} keeps the side`);
    }
    if (stage === 'nhfi') assert.equal(originals.size, 2, 'perImage 3: six copies of two originals');
  }
  const notes = new Map(run.annotations('aff').map((a) => [a.origPath, a]));
  const truth = truthOf(run, 'aff');
  const conflicts = truth.filter((t) => {
    if (!t.photo.startsWith('own:') || t.transformation === 'original') return false;
    const original = truth.find((o) => o.photo === t.photo && o.transformation === 'original')!;
    const [copy, source] = [notes.get(t.origPath)!, notes.get(original.origPath)!];
    assert.equal(copy.trueLabel, source.trueLabel, 'a copy shows what its original shows');
    return copy.givenLabel !== source.givenLabel;
  });
  assert.equal(conflicts.length, Math.round(0.3 * 7), 'labelConflicts: 0.3 of 7 copies filed differently');
});

test('the truth names every planted image with an origPath merge gives it', async () => {
  const run = await planted();
  const manifest = run
    .text('merge', 'manifest.jsonl')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { source: string; origPath: string; trueLabel?: string });
  const merged = new Map(manifest.map((r) => [`${r.source} ${r.origPath}`, r]));
  const plain = await main();
  for (const stage of ['fer', 'nhfi', 'aff']) {
    const truth = truthOf(run, stage);
    for (const t of truth) {
      const record = merged.get(`${stage} ${t.origPath}`);
      assert.ok(record, `${stage} ${t.origPath} is in the merged manifest`);
      assert.ok(record.trueLabel, `${t.origPath} carries its annotations into the manifest`);
    }
    // Every image beyond those the stage makes without planting is in the truth as a copy or a shared photo.
    const before = new Set(plain.annotations(stage).map((a) => a.origPath));
    const plantedPaths = run
      .annotations(stage)
      .map((a) => a.origPath)
      .filter((p) => !before.has(p));
    const named = new Set(truth.filter((t) => t.transformation !== 'original').map((t) => t.origPath));
    assert.deepEqual(plantedPaths.sort(), [...named].sort(), `${stage}: the truth names exactly the planted images`);
  }
  const summary = JSON.parse(run.text('merge', 'summary.json')) as { duplicates: unknown[] };
  assert.equal(summary.duplicates.length, 0, 'no planted image is byte-identical to another');
});

test('two stages naming the same pool hold the same photographs', async () => {
  const run = await planted();
  const pool = (stage: string) =>
    new Map(
      truthOf(run, stage)
        .filter((t) => t.photo.startsWith('pool:'))
        .map((t) => [t.photo, t]),
    );
  const [fer, nhfi, aff, aff2] = ['fer', 'nhfi', 'aff', 'aff2'].map(pool) as [
    Map<string, Truth>,
    ...Map<string, Truth>[],
  ];
  assert.deepEqual([...aff2!.keys()].sort(), [...aff!.keys()].sort(), 'the same style holds the same photos');
  for (const [photo, t] of aff!) {
    const other = aff2!.get(photo)!;
    assert.equal(other.transformation, t.transformation);
    assert.ok(run.bytes('aff', t.origPath).equals(run.bytes('aff2', other.origPath)), `${photo}: the same bytes`);
  }
  for (let i = 0; i < 8; i++) {
    const holders = [fer, nhfi, aff].filter((held) => held!.has(`pool:faces:${i}`)).length;
    assert.ok(holders >= 2, `photo ${i} is in ${holders} sources, two or three expected`);
  }
  // A photo only converted is the same picture in colour (affectnet) and in gray (nhfi, at another side).
  const both = [...nhfi!.values()].filter(
    (t) => t.transformation === 'format' && aff!.get(t.photo)?.transformation === 'format',
  );
  assert.ok(both.length > 0, 'some photo is plainly converted in both');
  for (const t of both) {
    const [gray, colour] = [
      await pixelsOf(run, 'nhfi', t.origPath),
      await pixelsOf(run, 'aff', aff!.get(t.photo)!.origPath),
    ];
    const small = await sharp(colour.data, { raw: { width: 40, height: 40, channels: 3 } })
      .resize(32, 32)
      .greyscale()
      .raw()
      .toBuffer();
    const diff = gray.data.reduce((sum, v, i) => sum + Math.abs(v - small[i]!), 0) / gray.data.length;
    assert.ok(diff < 12, `${t.photo}: nhfi's copy is affectnet's in gray (mean difference ${diff.toFixed(1)})`);
  }
});

test('without nearDuplicates the output is as before: planting only appends', async () => {
  const [run, plain] = [await planted(), await main()];
  for (const stage of ['nhfi', 'aff']) {
    const files = plain.lock.stages[stage]!.outputs.files;
    const with_ = run.lock.stages[stage]!.outputs.files;
    for (const [rel, file] of Object.entries(files)) {
      if (rel === 'annotations.jsonl') continue;
      assert.equal(with_[rel]?.hash, file.hash, `${stage}/${rel} is unchanged`);
    }
  }
  const rows = plain.text('fer', 'fer2013.csv').trimEnd().split('\n');
  const plantedRows = run.text('fer', 'fer2013.csv').trimEnd().split('\n');
  assert.deepEqual(plantedRows.slice(0, rows.length), rows, 'the CSV keeps its rows, Usage included, and appends');
  assert.equal(
    plantedRows.length,
    rows.length + truthOf(run, 'fer').filter((t) => t.transformation !== 'original').length,
  );
  for (const stage of ['fer', 'nhfi', 'aff']) {
    const annotations = new Set(run.annotations(stage).map((a) => JSON.stringify(a)));
    for (const a of plain.annotations(stage))
      assert.ok(annotations.has(JSON.stringify(a)), `${stage} keeps ${a.origPath}`);
    assert.ok(!plain.lock.stages[stage]!.outputs.files['near-duplicates.jsonl'], 'no truth file without the param');
  }
});
