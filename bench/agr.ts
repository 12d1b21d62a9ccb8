// Measurement: images per second through agr's models on this machine, against the single-thread baseline
// the issue measured (gear alone on wasm, one thread, batch 32, decoding included), run in the same process
// on the same images. Also checks that the worker path gives the very numbers the single-thread path gives,
// so the speed is not bought with a different answer.
// Usage: npm run bench:agr            (BENCH_AGR_IMAGES=256 by default; about 3 minutes on 2 cores)
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { seededRandom } from '../lib/random.js';
import type { AgrRequest, AgrResult } from '../stages/agr/worker.js';
import { runGear } from '../ml/human/attribute-models.js';
import { defaultParams } from '../engine/spec/schema-check.js';
import type { AgrEntry } from '../schemas/types/agr.js';
import { predictAttributes, type PredictOptions } from '../ml/human/predict-attributes.js';
import { encodePng, renderFace } from '../synth/faces/render.js';
import { STYLES } from '../synth/faces/styles.js';
import { EMOTIONS } from '../datasets/vocabulary.js';
import { decodeImage } from '../datasets/images/prepare.js';
import { toChannels } from '../datasets/images/raster.js';
import type { FaceImage } from '../ml/architectures/backbone.js';
import { loadHumanModel } from '../ml/human/models.js';
import { selectBackend } from '../ml/runtime.js';
import { mapRequests } from '../lib/parallel/map-requests.js';

const IMAGES = Number(process.env.BENCH_AGR_IMAGES ?? 256);

async function renderImages(): Promise<Uint8Array[]> {
  const rng = seededRandom(17);
  const images: Uint8Array[] = [];
  // 112×112 colour crops, like the demo's AffectNet-style source (real FER crops are 48–224 px).
  for (let i = 0; i < IMAGES; i++)
    images.push(await encodePng(await renderFace(STYLES.affectnet, 112, rng, EMOTIONS[i % EMOTIONS.length]!)));
  return images;
}

async function decode(bytes: Uint8Array): Promise<FaceImage> {
  const raster = toChannels(await decodeImage(bytes), 3);
  return { pixels: raster.data, width: raster.width, height: raster.height, channels: 3 };
}

/** The baseline: decode, then gear in batches of 32, all on this one thread. */
async function baseline(images: Uint8Array[], gear: GraphModel): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < images.length; i += 32) {
    const faces = await Promise.all(images.slice(i, i + 32).map(decode));
    const crops = faces.map((f) =>
      tf.tidy(() => tf.div(tf.tensor4d(Float32Array.from(f.pixels), [1, f.height, f.width, 3]), 255) as tf.Tensor4D),
    );
    runGear(gear, crops);
    tf.dispose(crops);
  }
  return images.length / ((performance.now() - started) / 1000);
}

/** agr's own path: requests of `batch` images to `workers` worker threads, each decoding and predicting. */
async function workersPath(
  images: Uint8Array[],
  options: PredictOptions,
  workers: number,
  batch: number,
): Promise<{ rate: number; results: AgrResult[] }> {
  const results = new Array<AgrResult>(images.length);
  const started = performance.now();
  await mapRequests<AgrRequest, AgrResult>({
    script: new URL('../stages/agr/worker.js', import.meta.url),
    count: images.length,
    perRequest: batch,
    workers,
    request: (indices) => ({
      backend: 'wasm',
      options,
      images: indices.map((i) => ({ bytes: images[i]!, detect: false })),
    }),
    onReply: (indices, replies) => replies.forEach((r, k) => (results[indices[k]!] = r)),
  });
  // Worker start-up and model loading are in the time: that is what a stage run pays too.
  return { rate: images.length / ((performance.now() - started) / 1000), results };
}

const { detector } = defaultParams<AgrEntry>('agr.schema.json');
const DEFAULT_MODELS: PredictOptions = { detector, genderModel: 'faceres', ageModel: 'faceres' };
const FAST_MODELS: PredictOptions = { detector, genderModel: 'gear', ageModel: 'ssrnet' };

async function main(): Promise<void> {
  const images = await renderImages();
  await selectBackend('wasm');
  const gear = await loadHumanModel('gear');
  runGear(gear, [tf.zeros([1, 112, 112, 3]) as tf.Tensor4D]); // warm-up: the first execute compiles kernels
  const cores = os.availableParallelism();
  console.log(`${IMAGES} rendered 112×112 face crops; ${cores} cores; wasm backend`);
  const base = await baseline(images, gear);
  console.log(`baseline (gear alone, 1 thread, batch 32, decoding included): ${base.toFixed(1)} images/s`);

  const runs: Array<[string, PredictOptions, number, number]> = [
    ['agr default (gear ethnicity + faceres gender/age)', DEFAULT_MODELS, cores, 16],
    ['agr default', DEFAULT_MODELS, cores, 32],
    ['agr default', DEFAULT_MODELS, 1, 16],
    ['agr fast (gear gender/ethnicity + SSR-Net age)', FAST_MODELS, cores, 16],
  ];
  let checked: AgrResult[] | undefined;
  for (const [name, options, workers, batch] of runs) {
    const { rate, results } = await workersPath(images, options, workers, batch);
    console.log(`${name}, ${workers} worker${workers > 1 ? 's' : ''}, batch ${batch}: ${rate.toFixed(1)} images/s`);
    console.log(`agr_vs_baseline (${name.split(' (')[0]}, ${workers}w b${batch}): ${(rate / base).toFixed(2)}`);
    if (options === DEFAULT_MODELS && !checked) checked = results;
  }

  // The same numbers as predictAttributes on this thread, image by image.
  const [faceres] = await Promise.all([loadHumanModel('faceres')]);
  const sample = await Promise.all(images.slice(0, 16).map(decode));
  const here = predictAttributes(
    { gear, faceres },
    sample.map((image) => ({ image, detect: false })),
    DEFAULT_MODELS,
  );
  const same = here.every((r, i) => JSON.stringify(r) === JSON.stringify(checked![i]));
  console.log(`worker results equal single-thread results on ${sample.length} images: ${same}`);
  if (!same) process.exitCode = 1;
}

await main();
