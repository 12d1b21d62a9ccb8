import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { ffmpegPath } from '../serve/ffmpeg.js';
import { iou } from '../serve/track.js';
import { chromiumPath } from './browser.js';
import { renderFaceVideo, tileAt, type SceneVideo } from '../synth/face-video.js';
import { cli, makeProject } from './helpers.js';
import { finished, serve, upload, type Served } from './serve-helpers.js';

// A model trained here on AffectNet-style generated faces (a transfer head on mobileface features: it
// trains in seconds and tells these faces apart), served by the real CLI, and a video of three of those
// faces drawn into a scene, each with a known emotion and place, drifting a little.
const PIPELINE = `version: 1
seed: 11
stages:
  faces: { type: generate-faces, params: { style: affectnet, perClass: 60, size: 64, labelNoise: 0, contempt: 0 } }
  merge: { type: merge, inputs: [faces] }
  train-merged: { type: train, input: merge, params: { arch: transfer, backbone: mobileface, epochs: 20 } }
`;
const EMOTIONS = ['happy', 'surprise', 'angry'] as const;
const MAX_UPLOAD_MB = 1;

interface Face {
  box: [number, number, number, number];
  person: number;
  emotion: string;
}
interface Result {
  fps: number;
  width: number;
  height: number;
  frames: Array<{ t: number; faces: Face[] }>;
  people: Array<{ person: number; emotion: string; frames: number }>;
  emotions: Record<string, number>;
  downloads: { csv: string; json: string };
}

describe('fer-dag serve', () => {
  let dir: string;
  let video: SceneVideo;
  let server: Served;

  before(async () => {
    dir = makeProject({ 'p.yaml': PIPELINE });
    const run = await cli(dir, 'run', 'p.yaml');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    video = await renderFaceVideo({
      file: path.join(dir, 'class.mp4'),
      width: 640,
      height: 360,
      fps: 10,
      seconds: 2,
      style: 'affectnet',
      seed: 5,
      ffmpeg: await ffmpegPath(),
      faces: EMOTIONS.map((emotion, k) => ({
        emotion,
        x: 50 + k * 200,
        y: 90 + (k % 2) * 60,
        size: 120,
        drift: [12, 6] as [number, number],
      })),
    });
    // The server keeps uploads in a folder of the system's temporary folder: here, one the test can look in.
    fs.mkdirSync(path.join(dir, 'tmp'));
    // The drawn faces score 0.6–0.9 with blazeface (photographs score higher); 0.3 keeps every one.
    const started = serve(
      dir,
      ['--min-confidence', '0.3', '--max-upload-mb', String(MAX_UPLOAD_MB)],
      path.join(dir, 'tmp'),
    );
    server = await started;
  });

  after(() => {
    server?.child.kill('SIGTERM');
  });

  test('a video of three faces comes back with each face boxed where it is, one person id each, and its emotion', async () => {
    const posted = await upload(server.url, video.file, { fps: '5' });
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    assert.equal(posted.body.kind, 'video');
    const { status, body } = await finished(server.url, String(posted.body.id));
    assert.equal(status, 200, JSON.stringify(body).slice(0, 500) + server.stderr());
    const result = body as unknown as Result;
    assert.deepEqual([result.fps, result.width, result.height], [5, 640, 360]);
    assert.equal(result.frames.length, 10, '2 s sampled at 5 fps');
    const personOf = new Map<number, Set<number>>();
    const emotionsOf = new Map<number, string[]>();
    for (const frame of result.frames) {
      assert.equal(frame.faces.length, 3, `faces at t = ${frame.t}`);
      for (const face of frame.faces) {
        const overlaps = EMOTIONS.map((_, k) => iou(face.box, tileAt(video, k, frame.t)));
        const k = overlaps.indexOf(Math.max(...overlaps));
        assert.ok(
          overlaps[k]! >= 0.6,
          `t = ${frame.t}: box ${face.box} overlaps face ${k} by only ${overlaps[k]!.toFixed(2)}`,
        );
        personOf.set(k, (personOf.get(k) ?? new Set()).add(face.person));
        emotionsOf.set(k, [...(emotionsOf.get(k) ?? []), face.emotion]);
      }
    }
    assert.deepEqual([...personOf.keys()].sort(), [0, 1, 2]);
    for (const [k, people] of personOf)
      assert.equal(people.size, 1, `face ${k} (${EMOTIONS[k]}) kept one person id, got ${[...people]}`);
    assert.equal(new Set([...personOf.values()].map((p) => [...p][0])).size, 3, 'three different people');
    for (const [k, emotions] of emotionsOf) {
      const right = emotions.filter((e) => e === EMOTIONS[k]).length;
      assert.ok(right >= 6, `face ${k} is ${EMOTIONS[k]} in only ${right} of 10 frames: ${emotions.join(' ')}`);
      const person = result.people.find((p) => p.person === [...personOf.get(k)!][0])!;
      assert.equal(person.emotion, EMOTIONS[k]);
      assert.equal(person.frames, 10);
    }
    const shares = Object.values(result.emotions).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(shares - 1) < 0.01, `shares sum to ${shares}`);

    const csv = await (await fetch(server.url + result.downloads.csv)).text();
    assert.equal(csv.trim().split('\n').length, 1 + 30, 'a CSV row per face');
    assert.match(csv, /^t,person,x,y,width,height,emotion,score,p_angry,/);
  });

  test('an image is one frame, and its faces are found too', async () => {
    const still = path.join(dir, 'still.png');
    const { execa } = await import('execa');
    await execa(await ffmpegPath(), ['-loglevel', 'error', '-y', '-i', video.file, '-frames:v', '1', still]);
    const posted = await upload(server.url, still);
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    assert.equal(posted.body.kind, 'image');
    const { body } = await finished(server.url, String(posted.body.id));
    const result = body as unknown as Result;
    assert.equal(result.frames.length, 1);
    assert.equal(result.frames[0]!.faces.length, 3);
  });

  test('bad uploads get a 4xx with a message saying what is wrong, and a good upload after them still works', async () => {
    const notMedia = path.join(dir, 'notes.txt');
    fs.writeFileSync(notMedia, 'minutes of the meeting\n');
    const empty = path.join(dir, 'empty.mp4');
    fs.writeFileSync(empty, '');
    const huge = path.join(dir, 'huge.mp4');
    fs.writeFileSync(huge, Buffer.alloc(MAX_UPLOAD_MB * 1024 * 1024 + 4096, 7));
    const { execa } = await import('execa');
    const noFaces = path.join(dir, 'empty-room.mp4');
    await execa(await ffmpegPath(), [
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=320x240:rate=10',
      '-t',
      '1',
      '-pix_fmt',
      'yuv420p',
      noFaces,
    ]);

    const cases: Array<[string, Promise<{ status: number; body: Record<string, unknown> }>, number, RegExp]> = [
      ['not a video', upload(server.url, notMedia), 415, /"notes\.txt" is not a video or an image/],
      ['empty', upload(server.url, empty), 400, /"empty\.mp4" is empty/],
      ['too large', upload(server.url, huge), 413, /over the upload limit of 1 MB.*--max-upload-mb/],
      ['bad fps', upload(server.url, video.file, { fps: 'fast' }), 400, /fps must be a number/],
    ];
    for (const [what, answer, status, message] of cases) {
      const { status: got, body } = await answer;
      assert.equal(got, status, `${what}: ${JSON.stringify(body)}`);
      assert.match(String(body.error), message, what);
    }
    const noField = await fetch(`${server.url}/api/analyze`, { method: 'POST', body: new FormData() });
    assert.equal(noField.status, 400);
    assert.match(String(((await noField.json()) as { error: string }).error), /no file/);
    const unknown = await fetch(`${server.url}/api/jobs/..%2F..%2Fetc%2Fpasswd`);
    assert.equal(unknown.status, 404);

    const posted = await upload(server.url, noFaces);
    assert.equal(posted.status, 202, 'a video of an empty room is a video: it is accepted');
    const failed = await finished(server.url, String(posted.body.id));
    assert.equal(failed.status, 422);
    assert.match(String(failed.body.error), /no faces found in 5 frames/);

    const good = await upload(server.url, video.file);
    assert.equal(good.status, 202);
    const done = await finished(server.url, String(good.body.id));
    assert.equal(done.status, 200);
    assert.equal((done.body as unknown as Result).people.length, 3);
    const [root, ...others] = fs.readdirSync(path.join(dir, 'tmp'));
    assert.deepEqual(others, []);
    assert.deepEqual(
      fs.readdirSync(path.join(dir, 'tmp', root!)),
      [],
      'every upload, good or bad, was deleted when its job or request ended',
    );
  });

  test('the page uploads the video, then draws a box and label on each face and a timeline per person', async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const outside: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(server.url) && !/^(blob|data):/.test(r.url())) outside.push(r.url());
      });
      await page.goto(server.url);
      // A refused upload first: its message shows on the page, and the page stays usable.
      const notes = path.join(dir, 'agenda.txt');
      fs.writeFileSync(notes, 'agenda: emotions\n');
      await page.setInputFiles('#file', notes);
      await page.click('#analyze');
      await page.waitForSelector('#error:not([hidden])', { timeout: 30_000 });
      assert.match((await page.locator('#error').textContent()) ?? '', /"agenda\.txt" is not a video or an image/);
      await page.setInputFiles('#file', video.file);
      await page.click('#analyze');
      await page.waitForSelector('.face-box', { timeout: 60_000 });
      const counts = await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } })
          .document;
        return Object.fromEntries(
          ['.face-box', '.face-label', '.timeline', '#shares .share'].map((s) => [s, doc.querySelectorAll(s).length]),
        );
      });
      assert.equal(counts['.face-box'], 3, JSON.stringify(counts));
      assert.equal(counts['.face-label'], 3);
      assert.equal(counts['.timeline'], 3);
      assert.ok(counts['#shares .share']! >= 3);
      const labels = await page.locator('.face-label').allTextContents();
      for (const emotion of EMOTIONS)
        assert.ok(
          labels.some((l) => l.includes(emotion)),
          `a label says ${emotion}: ${labels.join(' | ')}`,
        );
      fs.mkdirSync(path.join(dir, 'screens'), { recursive: true });
      await page.screenshot({ path: path.join(dir, 'screens', 'serve.png'), fullPage: true });
      assert.ok(fs.statSync(path.join(dir, 'screens', 'serve.png')).size > 10_000);
      assert.deepEqual(outside, [], 'the page fetches nothing from elsewhere');
    } finally {
      await browser.close();
    }
  });
});

test('serve names the stage to run first when the model is not trained, and asks for --model when it cannot tell which', async () => {
  const dir = makeProject({
    'p.yaml': PIPELINE,
    'two.yaml': `version: 1
stages:
  faces: { type: generate-faces, params: { style: nhfi, perClass: 2 } }
  merge: { type: merge, inputs: [faces] }
  train-a: { type: train, input: merge, params: { trainOn: all } }
  train-b: { type: train, input: merge, params: { trainOn: all } }
`,
  });
  const untrained = await cli(dir, 'serve', 'p.yaml', '--port', '0');
  assert.equal(untrained.code, 1, untrained.stderr);
  assert.match(
    untrained.stderr,
    /stage train-merged is never run.*run `fer-dag run p\.yaml --stage train-merged` first/,
  );
  const ambiguous = await cli(dir, 'serve', 'two.yaml', '--port', '0');
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /2 train stages \(train-a, train-b\).*name one with --model/);
  const notTrain = await cli(dir, 'serve', 'p.yaml', '--model', 'merge', '--port', '0');
  assert.equal(notTrain.code, 2);
  assert.match(notTrain.stderr, /--model merge: it is a merge stage; name a train stage \(train-merged\)/);
});
