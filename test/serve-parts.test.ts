import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { seededRandom } from '../lib/random.js';
import { cropFace, findFaces } from '../serve/faces.js';
import type { Box } from '../serve/track.js';
import { ffmpegPath } from '../serve/ffmpeg.js';
import { frameBox, measureFraming } from '../serve/framing.js';
import { MediaError, probeMedia, videoFrames } from '../serve/media.js';
import { sniff, type Demuxer } from '../serve/sniff.js';
import { emotionShares, framesCsv, summarisePeople, type FrameResult } from '../serve/summary.js';
import { FaceTracker, iou } from '../serve/track.js';
import { encodePng, renderFace } from '../synth/faces/render.js';
import { STYLES } from '../synth/faces/styles.js';
import type { Raster } from '../datasets/images/raster.js';
import { loadHumanInference } from '../ml/human/inference.js';
import { selectBackend } from '../ml/runtime.js';
import { PixelSource } from '../ml/training/examples.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Hash } from '../cache/hash.js';
import { loadFaceClassifier } from '../serve/classifier.js';
import { exportTrainedModel } from '../ml/training/export-onnx.js';
import { EMOTIONS } from '../datasets/vocabulary.js';
import { buildPaperCnn } from '../ml/architectures/paper-cnn.js';
import { modelMetadata, storeSaveHandler } from '../ml/model-files.js';
import type { OutputWriter } from '../engine/stage.js';
import { renderFaceVideo, tileAt } from '../synth/face-video.js';
import { makeProject, memoryView } from './helpers.js';

test('a face keeps its person id as it moves and through a missed frame; a face elsewhere is someone new', () => {
  const tracker = new FaceTracker(0.3, 2);
  assert.deepEqual(
    tracker.assign(0, [
      [0, 0, 100, 100],
      [300, 0, 100, 100],
    ]),
    [1, 2],
  );
  assert.deepEqual(
    tracker.assign(1, [
      [310, 5, 100, 100],
      [10, 5, 100, 100],
    ]),
    [2, 1],
    'matched by overlap, not by order',
  );
  assert.deepEqual(tracker.assign(2, [[20, 5, 100, 100]]), [1], 'person 2 missed in this frame');
  assert.deepEqual(
    tracker.assign(3, [
      [25, 5, 100, 100],
      [315, 5, 100, 100],
      [600, 200, 80, 80],
    ]),
    [1, 2, 3],
  );
  assert.deepEqual(
    tracker.assign(7, [[600, 200, 80, 80]]),
    [4],
    'unseen for longer than the gap allowed: a new person',
  );
});

test('two faces overlapping one track: the better overlap keeps the id', () => {
  const tracker = new FaceTracker(0.3, 2);
  tracker.assign(0, [[100, 100, 100, 100]]);
  assert.deepEqual(
    tracker.assign(1, [
      [150, 100, 100, 100],
      [105, 100, 100, 100],
    ]),
    [2, 1],
  );
});

test("a person's timeline joins runs of one emotion and breaks where they were not seen", () => {
  const face = (person: number, emotion: string) => ({
    box: [0, 0, 10, 10] as Box,
    person,
    emotion,
    score: 0.9,
    scores: { happy: 0.9 },
    detection: 0.9,
  });
  const emotions = ['happy', 'happy', 'sad', 'sad', null, null, 'sad', 'happy'];
  const frames: FrameResult[] = emotions.map((e, i) => ({ t: i * 0.2, faces: e ? [face(1, e)] : [] }));
  frames[0]!.faces.push(face(2, 'neutral'));
  const [one, two] = summarisePeople(frames, ['happy', 'neutral', 'sad'], 0.2, 0.3);
  assert.deepEqual(one!.timeline, [
    { from: 0, to: 0.4, emotion: 'happy' },
    { from: 0.4, to: 0.8, emotion: 'sad' },
    { from: 1.2, to: 1.4, emotion: 'sad' },
    { from: 1.4, to: 1.6, emotion: 'happy' },
  ]);
  assert.deepEqual(
    [one!.emotion, one!.frames, one!.first, one!.last],
    ['happy', 6, 0, 1.4],
    'three happy, three sad: a tie goes to the earlier class',
  );
  assert.deepEqual(one!.shares, { happy: 0.5, neutral: 0, sad: 0.5 });
  assert.deepEqual(two!.timeline, [{ from: 0, to: 0.2, emotion: 'neutral' }]);
  assert.deepEqual(emotionShares(frames, ['happy', 'neutral', 'sad']), { happy: 0.429, neutral: 0.143, sad: 0.429 });
  assert.equal(framesCsv(frames, ['happy', 'neutral', 'sad']).trim().split('\n').length, 1 + 7);
});

test("a crop past the frame's edge repeats the edge pixels", () => {
  const frame: Raster = { width: 3, height: 2, channels: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
  assert.deepEqual([...cropFace(frame, [1, 0, 2, 2]).data], [2, 3, 5, 6]);
  assert.deepEqual([...cropFace(frame, [-1, -1, 3, 3]).data], [1, 1, 2, 1, 1, 2, 4, 4, 5]);
});

test('the framing of training images is measured from where blazeface finds their faces, and a wider picture measures wider', async () => {
  await selectBackend('auto');
  const detector = await loadHumanInference('blazeface', { provider: 'cpu', threads: 1 });
  const rng = seededRandom(3, 'framing');
  const faces: Raster[] = [];
  for (let i = 0; i < 10; i++) {
    const face = await renderFace(
      STYLES.nhfi,
      112,
      rng,
      (['happy', 'sad', 'neutral', 'surprise', 'angry'] as const)[i % 5],
    );
    faces.push({ width: 112, height: 112, channels: 1, data: face.pixels });
  }
  // The same pictures in the middle of a canvas twice as large, filled with their corner's gray.
  const wider = faces.map((f) => {
    const data = new Uint8Array(224 * 224).fill(f.data[0]!);
    for (let y = 0; y < 112; y++) data.set(f.data.subarray(y * 112, (y + 1) * 112), (y + 56) * 224 + 56);
    return { width: 224, height: 224, channels: 1 as const, data };
  });
  const tight = (await measureFraming(detector, faces)).framing!;
  const wide = (await measureFraming(detector, wider)).framing!;
  assert.ok(
    tight.scale > 1.2 && tight.scale < 2,
    `an NHFI-style crop is about 1.5 face boxes wide, measured ${tight.scale}`,
  );
  assert.ok(tight.dy < -0.05, `the picture's centre is above the face box's (hair), measured ${tight.dy}`);
  assert.ok(
    Math.abs(wide.scale / tight.scale - 2) < 0.25,
    `twice the canvas, twice the scale: ${tight.scale} → ${wide.scale}`,
  );
  assert.ok(Math.abs(wide.dy - tight.dy) < 0.08, `offsets are in box sides, so they stay: ${tight.dy} → ${wide.dy}`);
  assert.equal((await measureFraming(detector, faces.slice(0, 3))).framing, null, 'too few faces to measure');

  assert.deepEqual(frameBox([100, 100, 40, 40], { scale: 2, dx: 0, dy: -0.25, from: 'test' }), [80, 70, 80, 80]);
  detector.dispose();
});

test('a face crop reaches a served paper CNN exactly as the same picture reached it in training', async () => {
  await selectBackend('auto');
  const spec = {
    inputSize: 20,
    channels: 1 as const,
    width: 0.125,
    classes: 7,
    dropout: 0.25,
    batchNormMomentum: 0.99,
  };
  const model = buildPaperCnn(spec);
  const files = new Map<string, Uint8Array>();
  const put = (rel: string, data: string | Uint8Array) =>
    void files.set(rel, typeof data === 'string' ? Buffer.from(data) : data);
  const writer = { writeFile: put, writeJson: (rel: string, value: unknown) => put(rel, JSON.stringify(value)) };
  await model.save(
    storeSaveHandler(writer as unknown as OutputWriter, 'model', {
      classes: [...EMOTIONS],
      arch: 'paper-cnn',
      inputSize: 20,
      channels: 1,
    }),
  );
  const view = memoryView('train-merged', 'test', files);
  // A colour face cut from a frame, and the same picture stored as a training image (PNG, lossless).
  const face = await renderFace(STYLES.affectnet, 37, seededRandom(5, 'crop'), 'happy');
  const crop: Raster = { width: 37, height: 37, channels: 3, data: face.pixels };
  const png = await encodePng(face);
  const training = await new PixelSource(() => Buffer.from(png), spec, 1).batch([
    { blob: 'face' as Hash, label: 3, source: 'x' },
  ]);
  const trained = tf.tidy(
    () => (model.predict(tf.tensor(training.x, [1, 20, 20, 1])) as tf.Tensor).dataSync() as Float32Array,
  );
  const classifier = await loadFaceClassifier(view, { provider: 'tfjs', threads: 0 });
  const [served] = await classifier.classify([crop]);
  assert.deepEqual([...served!], [...trained], 'the same probabilities, to the bit');
  classifier.dispose();
  // Its model.onnx, as train writes it, on onnxruntime: the same input, so the same answer within rounding.
  files.set('model/model.onnx', exportTrainedModel(model, modelMetadata(view)));
  const onnx = await loadFaceClassifier(view, { provider: 'cpu', threads: 1 });
  assert.match(onnx.runtime, /^onnxruntime-node /);
  const [fromOnnx] = await onnx.classify([crop]);
  fromOnnx!.forEach((p, k) => assert.ok(Math.abs(p - trained[k]!) <= 1e-5, `class ${k}: ${p} vs ${trained[k]}`));
  onnx.dispose();
  model.dispose();
});

test('uploads are told apart by their bytes: an image, a video (its rotation applied), anything else refused', async () => {
  const dir = makeProject();
  const ffmpeg = await ffmpegPath();
  const notes = path.join(dir, 'clip.mp4');
  fs.writeFileSync(notes, 'not a video at all');
  await assert.rejects(
    probeMedia(notes, 'clip.mp4'),
    (e: unknown) =>
      e instanceof MediaError && e.status === 415 && /"clip\.mp4" is not a video or an image/.test(e.message),
  );

  const png = path.join(dir, 'still.dat');
  await execa(ffmpeg, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=64x48',
    '-frames:v',
    '1',
    '-f',
    'image2',
    '-c:v',
    'png',
    png,
  ]);
  assert.equal((await probeMedia(png, 'still.dat')).kind, 'image', 'a PNG whatever its name');

  // A phone's portrait clip: stored 320×240 with rotation metadata saying it plays as 240×320.
  // (Encoding drops a rotate tag; a remux keeps it, as a phone's file has it.)
  const stored = path.join(dir, 'stored.mp4');
  const rotated = path.join(dir, 'phone.mov');
  await execa(ffmpeg, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x240:rate=10',
    '-t',
    '1.5',
    '-pix_fmt',
    'yuv420p',
    stored,
  ]);
  await execa(ffmpeg, ['-loglevel', 'error', '-i', stored, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated]);
  const info = await probeMedia(rotated, 'phone.mov');
  assert.deepEqual([info.kind, info.format, info.duration], ['video', 'h264', 1.5]);
  const video = await videoFrames(rotated, 4, 1280);
  assert.deepEqual([video.width, video.height], [240, 320]);
  const times: number[] = [];
  for await (const frame of video.frames) {
    assert.deepEqual([frame.raster.width, frame.raster.height, frame.scale], [240, 320, 1]);
    times.push(frame.t);
  }
  assert.deepEqual(times, [0, 0.25, 0.5, 0.75, 1, 1.25]);

  const scaled = await videoFrames(rotated, 2, 160);
  assert.deepEqual([scaled.width, scaled.height], [240, 320], "boxes are reported in the video's own pixels");
  for await (const frame of scaled.frames)
    assert.deepEqual([frame.raster.width, frame.raster.height, frame.scale], [120, 160, 2]);
});

/** One second of ffmpeg's 64×48 test pattern at 5 fps, written to `file` (the extension picks the container). */
async function testClip(file: string, args: string[] = []): Promise<void> {
  await execa(await ffmpegPath(), [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=64x48:rate=5',
    '-t',
    '1',
    ...args,
    file,
  ]);
}

test('no frame is lost when the frames are read only after ffmpeg has finished decoding', async () => {
  const dir = makeProject();
  const clip = path.join(dir, 'clip.mp4');
  await testClip(clip);
  const video = await videoFrames(clip, 5, 64);
  // A loaded machine can put this much between parsing the header and reading the first frame.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  let frames = 0;
  for await (const _ of video.frames) frames++;
  assert.equal(frames, 5);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('each container on the demuxer whitelist is told by its magic bytes and decodes; playlists and lists are refused', async () => {
  const dir = makeProject();
  const ffmpeg = await ffmpegPath();
  const containers: Array<[string, string[], Demuxer]> = [
    ['mp4', [], 'mov'],
    ['mov', [], 'mov'],
    ['3gp', ['-s', '176x144'], 'mov'],
    ['webm', ['-c:v', 'libvpx'], 'matroska'],
    ['mkv', [], 'matroska'],
    ['avi', [], 'avi'],
    ['flv', [], 'flv'],
    ['ogv', ['-c:v', 'libtheora'], 'ogg'],
    ['ts', [], 'mpegts'],
    ['mpg', ['-r', '25'], 'mpeg'],
    ['wmv', [], 'asf'],
    ['gif', [], 'gif'],
  ];
  for (const [ext, args, demuxer] of containers) {
    const file = path.join(dir, `clip.${ext}`);
    await testClip(file, args);
    const info = await probeMedia(file, `clip.${ext}`);
    assert.deepEqual([info.kind, info.demuxer], ['video', demuxer], ext);
    let frames = 0;
    for await (const _ of (await videoFrames(file, 5, 64, { demuxer: info.demuxer })).frames) frames++;
    assert.equal(frames, 5, `${ext}: one second at 5 fps`);
  }
  for (const ext of ['png', 'jpg', 'webp', 'tiff']) {
    const file = path.join(dir, `still.${ext}`);
    await execa(ffmpeg, ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x48', '-frames:v', '1', file]);
    assert.equal(sniff(fs.readFileSync(file)).kind, 'image', ext);
  }
  const text = (t: string) => sniff(Buffer.from(t));
  assert.deepEqual(text('#EXTM3U\n/srv/a.ts\n'), { kind: 'reference', what: 'an HLS playlist (#EXTM3U)' });
  assert.deepEqual(text('\uFEFF  ffconcat version 1.0\nfile a.ts\n'), { kind: 'reference', what: 'an ffconcat list' });
  assert.deepEqual(text('v=0\no=- 0 0 IN IP4 10.0.0.1\n'), { kind: 'reference', what: 'an SDP session description' });
  assert.deepEqual(text('<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011">'), {
    kind: 'reference',
    what: 'a DASH manifest (MPD)',
  });
  assert.deepEqual(text('minutes of the meeting\n'), { kind: 'unknown' });
  // A PNG signature is an image even when the rest would make ffmpeg think otherwise.
  assert.equal(
    sniff(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('#EXTM3U')])).kind,
    'image',
  );
});

test('tiles find the small faces of a classroom wide shot that the whole frame misses', async () => {
  await selectBackend('auto');
  const detector = await loadHumanInference('blazeface', { provider: 'cpu', threads: 1 });
  const dir = makeProject();
  // Two rows of five faces 60 pixels wide in a 1280×720 frame: 12 pixels each in blazeface's 256 input.
  const faces = Array.from({ length: 10 }, (_, k) => ({
    emotion: (['happy', 'sad', 'angry', 'neutral', 'surprise'] as const)[k % 5],
    x: 80 + (k % 5) * 230,
    y: 150 + Math.floor(k / 5) * 280,
    size: 60,
    drift: [0, 0] as [number, number],
  }));
  const video = await renderFaceVideo({
    file: path.join(dir, 'class.mp4'),
    width: 1280,
    height: 720,
    fps: 5,
    seconds: 0.4,
    style: 'affectnet',
    seed: 3,
    faces,
    ffmpeg: await ffmpegPath(),
  });
  const decoded = await videoFrames(video.file, 5, 1280);
  const { value: frame } = await decoded.frames.next();
  await decoded.frames.return(undefined);
  // The framing measured on AffectNet-style images (see serve.test.ts), so boxes are comparable to the squares.
  const options = {
    minConfidence: 0.3,
    maxFaces: 50,
    framing: { scale: 2.14, dx: -0.04, dy: -0.19, from: 'test' },
    tiles: 1,
  };
  const hit = (found: Array<{ box: Box }>) =>
    faces.filter((_, k) => found.some((f) => iou(f.box, tileAt(video, k, 0)) >= 0.4)).length;
  const whole = await findFaces(detector, frame!.raster, options);
  const tiled = await findFaces(detector, frame!.raster, { ...options, tiles: 3 });
  assert.ok(hit(whole) < 10, `the whole frame finds ${hit(whole)} of 10`);
  assert.equal(hit(tiled), 10, `tiles find ${hit(tiled)} of 10`);
  assert.equal(tiled.length, 10, 'each face once, though frame and tiles overlap');
  detector.dispose();
});
