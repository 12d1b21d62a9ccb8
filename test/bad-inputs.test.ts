import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { CLI, cli, makeProject, stageOutput } from './helpers.js';
import { fer2013Row, imageBytes } from './image-fixtures.js';

const made: string[] = [];
after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

interface Skipped {
  source: string;
  origPath: string;
  reason: string;
}

/** A folder dataset of two good images (happy/, sad/) merged by `p.yaml`; `params` go under the merge stage. */
async function folderProject(params = ''): Promise<string> {
  const pipeline =
    'version: 1\ndatasets:\n  faces: { format: folders, path: data/faces }\n' +
    `stages:\n  merge:\n    type: merge\n    inputs: [faces]\n${params}`;
  const dir = makeProject({ 'p.yaml': pipeline });
  made.push(dir);
  for (const [rel, seed] of [
    ['happy/a.png', 1],
    ['sad/b.png', 2],
  ] as const) {
    fs.mkdirSync(path.dirname(path.join(dir, 'data/faces', rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data/faces', rel), await imageBytes(seed, { size: 40 }));
  }
  return dir;
}

const skippedOf = (dir: string) => stageOutput(dir, 'merge').json('summary.json').skipped as Skipped[];

test('a file symlink loop and a dangling symlink are skipped and listed with their reasons; the run succeeds', async () => {
  const dir = await folderProject();
  const faces = path.join(dir, 'data/faces');
  fs.symlinkSync('loop-b.png', path.join(faces, 'happy/loop-a.png'));
  fs.symlinkSync('loop-a.png', path.join(faces, 'happy/loop-b.png'));
  fs.symlinkSync('gone.png', path.join(faces, 'sad/dangling.png'));

  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(stageOutput(dir, 'merge').records().length, 2);
  assert.deepEqual(
    skippedOf(dir).map((s) => `${s.origPath}: ${s.reason.split(':')[0]}`),
    [
      'happy/loop-a.png: a symbolic link loop (ELOOP)',
      'happy/loop-b.png: a symbolic link loop (ELOOP)',
      'sad/dangling.png: a dangling symbolic link',
    ],
  );
  assert.match(skippedOf(dir)[2]!.reason, /its target "gone\.png" does not exist; fix or remove it/);
  // The console names the first skipped files and where the whole list is.
  assert.match(
    result.stdout,
    /\[merge\] warning: skipped 3 of 5 inputs \(60 %, more than 5 %\): faces: happy\/loop-a\.png \(/,
  );
  assert.match(
    result.stdout,
    /faces: sad\/dangling\.png \(a dangling symbolic link.*all are listed under "skipped" in merge's/,
  );

  // Dataset hashing sees the same folder: a rerun is fresh, and fixing the dangling link reruns merge.
  const again = await cli(dir, 'run', 'p.yaml');
  assert.match(again.stdout, /fresh {4}merge/);
  const status = await cli(dir, 'status', 'p.yaml');
  assert.equal(status.code, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /merge +fresh/);
  fs.writeFileSync(path.join(faces, 'sad/gone.png'), await imageBytes(3, { size: 40 }));
  const fixed = await cli(dir, 'run', 'p.yaml');
  assert.match(fixed.stdout, /run {6}merge: dataset faces changed/);
  assert.deepEqual(
    skippedOf(dir).map((s) => s.origPath),
    ['happy/loop-a.png', 'happy/loop-b.png'],
  );
  // gone.png and the link to it are the same picture: kept once.
  assert.deepEqual(
    stageOutput(dir, 'merge')
      .records()
      .map((r) => r.origPath),
    ['happy/a.png', 'sad/b.png', 'sad/dangling.png'],
  );
});

test('a 16000×16000 PNG (under 1 MB) is skipped as over the pixel limit before decoding; merge stays under 1 GB', async () => {
  const dir = await folderProject();
  const huge = path.join(dir, 'data/faces/sad/huge.png');
  const flat = { width: 16000, height: 16000, channels: 3, background: { r: 90, g: 20, b: 40 } } as const;
  await sharp({ create: flat }).png({ compressionLevel: 9 }).toFile(huge);
  assert.ok(fs.statSync(huge).size < 1 << 20, `fixture is ${fs.statSync(huge).size} bytes`);
  // The CLI's peak resident memory (worker threads included), written as it exits.
  const rssFile = path.join(dir, 'max-rss.txt');
  fs.writeFileSync(
    path.join(dir, 'rss.mjs'),
    `import { writeFileSync } from 'node:fs';
process.on('exit', () => writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`,
  );
  const { spawnSync } = await import('node:child_process');
  const run = spawnSync(process.execPath, ['--import', './rss.mjs', CLI, 'run', 'p.yaml'], {
    cwd: dir,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const [entry] = skippedOf(dir);
  assert.equal(entry!.origPath, 'sad/huge.png');
  assert.match(
    entry!.reason,
    /^over the pixel limit: 16000×16000 is 256 megapixels, more than maxPixels 50000000 \(50 megapixels\)/,
  );
  const peakMegabytes = Number(fs.readFileSync(rssFile, 'utf8')) / 1024;
  assert.ok(peakMegabytes < 1024, `merge peaked at ${Math.round(peakMegabytes)} MB`);
  assert.match(run.stdout, /faces: sad\/huge\.png \(over the pixel limit: 16000×16000/);
});

test('maxPixels is a merge option; an image remembered from a run with a higher limit is refused without decoding', async () => {
  const dir = await folderProject();
  assert.equal((await cli(dir, 'run', 'p.yaml')).code, 0);
  fs.appendFileSync(path.join(dir, 'p.yaml'), '    params: { maxPixels: 1000 }\n');
  const result = await cli(dir, 'run', 'p.yaml');
  // Every image is 40×40 = 1600 pixels: all skipped, so the stage fails and says why.
  assert.equal(result.code, 1, result.stdout);
  assert.match(
    result.stdout,
    /every input was skipped \(2\), so the merged dataset would be empty\. First: faces: happy\/a\.png/,
  );
  assert.match(
    result.stdout,
    /happy\/a\.png \(over the pixel limit: 40×40 is 1600 pixels, more than maxPixels 1000; raise/,
  );
  assert.match(result.stdout, /decoded 0 images, 2 remembered/);
});

/** A FER2013 CSV dataset `fer` holding `rows` (after the header), merged by `p.yaml`. */
function csvProject(file: string, header: string, rows: string[]): string {
  const dir = makeProject({
    [`data/${file}`]: [header, ...rows].join('\n') + '\n',
    'p.yaml': `version: 1\ndatasets:\n  fer: { format: fer2013-csv, path: data/${file} }\nstages:\n  merge: { type: merge, inputs: [fer] }\n`,
  });
  made.push(dir);
  return dir;
}

const pixelText = (seed: number) => fer2013Row(0, seed).split(',')[1]!;

test("Kaggle's train.csv with quoted pixels is merged (it made every row a decode error, and merge succeeded empty)", async () => {
  const dir = csvProject(
    'train.csv',
    'emotion,pixels',
    [0, 3, 6].map((id, i) => `${id},"${pixelText(i)}"`),
  );
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const records = stageOutput(dir, 'merge').records();
  assert.deepEqual(
    records.map((r) => `${r.origPath} ${r.label} ${r.split}`),
    ['train.csv:2 angry train', 'train.csv:3 happy train', 'train.csv:4 neutral train'],
  );
  assert.deepEqual(stageOutput(dir, 'merge').json('summary.json').skipped, []);
});

test('a dataset whose every row is bad fails the stage, naming the first reasons', async () => {
  const dir = csvProject('fer2013.csv', 'emotion,pixels,Usage', [
    fer2013Row(9, 1),
    fer2013Row(3, 2, 'Training', 100),
    'x,1 2 3,Training',
  ]);
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 1, result.stdout);
  assert.match(
    result.stdout,
    /FAILED {3}merge \(stage-error\):\n {6}every input was skipped \(3\), so the merged dataset would be empty\./,
  );
  assert.match(
    result.stdout,
    /First: fer: fer2013\.csv:2 \(emotion "9" is not a FER2013 id 0–6\); fer: fer2013\.csv:4 \(emotion "x"/,
  );
  assert.match(result.stdout, /fer: fer2013\.csv:3 \(cannot decode: 100 pixels, expected 2304\)/);
  assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace');
});

test("Kaggle's unlabelled test.csv is refused with a message naming the files to use instead", async () => {
  const dir = csvProject('test.csv', 'pixels', [`"${pixelText(1)}"`, `"${pixelText(2)}"`]);
  const result = await cli(dir, 'run', 'p.yaml');
  assert.equal(result.code, 1, result.stdout);
  assert.match(
    result.stdout,
    /fer: test\.csv:1 \(no "emotion" column: the file is unlabelled \(as Kaggle's test\.csv is\)/,
  );
  assert.match(
    result.stdout,
    /and cannot be merged; use the labelled fer2013\.csv or icml_face_data\.csv .* or Kaggle's train\.csv\)/,
  );
});

test('more than 5 % skipped is a warning on the console; 5 % or less is not', async () => {
  const good = Array.from({ length: 19 }, (_, i) => fer2013Row(3, i));
  const over = csvProject('fer2013.csv', 'emotion,pixels,Usage', [...good, fer2013Row(9, 99), fer2013Row(9, 98)]);
  const warned = await cli(over, 'run', 'p.yaml');
  assert.equal(warned.code, 0, warned.stdout + warned.stderr);
  assert.match(
    warned.stdout,
    /\[merge\] warning: skipped 2 of 21 inputs \(9\.5 %, more than 5 %\): fer: fer2013\.csv:21 \(emotion "9"/,
  );
  const under = csvProject('fer2013.csv', 'emotion,pixels,Usage', [...good, fer2013Row(9, 99)]);
  const quiet = await cli(under, 'run', 'p.yaml');
  assert.match(quiet.stdout, /\[merge\] skipped 1 of 20 inputs \(5\.0 %\): fer: fer2013\.csv:21/);
  assert.doesNotMatch(quiet.stdout, /warning/);
});
