// Measurement: seconds `fer-dag serve` takes for a 60 s 640×360 video with 4 faces, sampled at 5 fps, from
// upload to finished job, through the real HTTP server; printed with the ratio to the video's length
// (below 1.0: faster than real time). Two models: the paper's CNN at full width (48×48 gray) and a transfer
// model on mobileface (112×112). Their weights come from one short training run: speed does not depend on the
// weights. Peer, in the same script: the same server with the models on tfjs (`--provider tfjs`, the old path).
// Usage: npm run bench:serve         (about 4 minutes on 2 cores)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Store } from '../cache/store.js';
import { loadPipeline } from '../engine/spec/load.js';
import type { Lockfile } from '../engine/lockfile.js';
import { loadServing } from '../serve/load.js';
import { ffmpegPath } from '../serve/ffmpeg.js';
import { DEFAULT_LIMITS } from '../serve/media.js';
import { buildServer } from '../serve/server.js';
import { renderFaceVideo } from '../synth/face-video.js';
import { builtInRegistry } from '../stages/registry.js';

const SECONDS = Number(process.env.BENCH_SERVE_SECONDS ?? 60);
const here = path.dirname(fileURLToPath(import.meta.url));
const work = path.resolve(here, '..', '..', 'bench', '.work', 'serve');
const cli = path.resolve(here, '..', 'cli', 'main.js');

const PIPELINE = `version: 1
seed: 3
stages:
  faces: { type: generate-faces, params: { style: affectnet, perClass: 20, size: 64, labelNoise: 0, contempt: 0 } }
  merge: { type: merge, inputs: [faces] }
  paper-cnn: { type: train, input: merge, params: { arch: paper-cnn, width: 1, epochs: 1 } }
  transfer: { type: train, input: merge, params: { arch: transfer, backbone: mobileface, epochs: 2 } }
`;

async function main(): Promise<void> {
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(work, 'p.yaml'), PIPELINE);
  const run = await execa(process.execPath, [cli, 'run', 'p.yaml'], { cwd: work, reject: false });
  if (run.exitCode !== 0) throw new Error(`training the models failed:\n${run.stderr}`);

  const file = path.join(work, 'meeting.mp4');
  let started = performance.now();
  const video = await renderFaceVideo({
    file,
    width: 640,
    height: 360,
    fps: 25,
    seconds: SECONDS,
    style: 'affectnet',
    seed: 9,
    ffmpeg: await ffmpegPath(),
    faces: (['happy', 'sad', 'angry', 'neutral'] as const).map((emotion, k) => ({
      emotion,
      x: 20 + k * 155,
      y: 100 + (k % 2) * 40,
      size: 110,
      drift: [15, 10] as [number, number],
    })),
  });
  const bytes = fs.statSync(file).size;
  process.stdout.write(
    `video: ${SECONDS} s, 640×360, 25 fps, 4 faces, ${(bytes / 1e6).toFixed(1)} MB, rendered in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );

  const pipeline = loadPipeline(path.join(work, 'p.yaml'), builtInRegistry);
  if (!pipeline.ok) throw new Error('bench pipeline invalid');
  const lock = JSON.parse(fs.readFileSync(path.join(work, 'p.lock.json'), 'utf8')) as Lockfile;
  const store = new Store(pipeline.value.storeDir);
  const recordOf = async (stage: string) => store.getRecord(lock.stages[stage]!.key as never)!;

  // Each model on onnxruntime (the default) and on tfjs (the old path, the peer); the paper CNN also with tiles.
  const runs: Array<{ stage: string; provider: 'cpu' | 'tfjs'; tiles: number }> = [
    { stage: 'paper-cnn', provider: 'cpu', tiles: 1 },
    { stage: 'paper-cnn', provider: 'tfjs', tiles: 1 },
    { stage: 'transfer', provider: 'cpu', tiles: 1 },
    { stage: 'transfer', provider: 'tfjs', tiles: 1 },
    { stage: 'paper-cnn', provider: 'cpu', tiles: 3 },
  ];
  const seconds = new Map<string, number>();
  for (const { stage, provider, tiles } of runs) {
    const serving = await loadServing(pipeline.value, store, stage, recordOf, undefined, { provider, threads: 0 });
    const { app } = await buildServer({
      models: serving.models,
      analysis: {
        fps: 5,
        minConfidence: 0.3,
        maxFaces: 50,
        framing: serving.framing,
        maxSide: 1280,
        batchSize: 64,
        tiles,
        ...DEFAULT_LIMITS,
      },
      maxUploadBytes: 500 * 1024 * 1024,
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    started = performance.now();
    const form = new FormData();
    form.append('file', new Blob([fs.readFileSync(file)]), 'meeting.mp4');
    const { id } = (await (await fetch(`${url}/api/analyze`, { method: 'POST', body: form })).json()) as {
      id: string;
    };
    let job: {
      state: string;
      counts?: { frames: number; faces: number };
      people?: unknown[];
      timings?: Record<string, number>;
    };
    for (;;) {
      job = (await (await fetch(`${url}/api/jobs/${id}`)).json()) as typeof job;
      if (job.state === 'done' || job.state === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const took = (performance.now() - started) / 1000;
    seconds.set(`${stage} ${provider} ${tiles}`, took);
    await app.close();
    if (job.state !== 'done') throw new Error(`the job failed: ${JSON.stringify(job)}`);
    process.stdout.write(
      `${stage}${tiles > 1 ? `, tiles ${tiles}` : ''}: ${took.toFixed(1)} s for ${job.counts!.frames} frames, ` +
        `${job.counts!.faces} faces, ${job.people!.length} people (detect+decode ${job.timings!.decodeAndDetect} s, ` +
        `classify ${job.timings!.classify} s); ${serving.inference}\n`,
    );
    const label = `${stage}${tiles > 1 ? `, tiles ${tiles}` : ''}`;
    if (provider === 'cpu')
      process.stdout.write(`serve_vs_realtime (${label}): ${(took / video.seconds).toFixed(2)}\n`);
    else
      process.stdout.write(`serve_vs_realtime (${label}, tfjs, the old path): ${(took / video.seconds).toFixed(2)}\n`);
    serving.models.classifier.dispose();
    serving.models.detector.dispose();
  }
  for (const stage of ['paper-cnn', 'transfer']) {
    const ratio = seconds.get(`${stage} tfjs 1`)! / seconds.get(`${stage} cpu 1`)!;
    process.stdout.write(`serve ${stage}: onnxruntime ${ratio.toFixed(2)}× faster than tfjs\n`);
  }
  store.close();
}

await main();
