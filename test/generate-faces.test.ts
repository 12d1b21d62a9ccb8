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
