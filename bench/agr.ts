// Measurement: images per second through agr's models on this machine, against the single-thread baseline
// the issue measured (gear alone on wasm, one thread, batch 32, decoding included), run in the same process
// on the same images. Also checks that the worker path gives the very numbers the single-thread path gives,
// so the speed is not bought with a different answer.
// Usage: npm run bench:agr            (BENCH_AGR_IMAGES=256 by default; about 3 minutes on 2 cores)
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
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
import { graphModelInference, type InferenceModel } from '../ml/inference/model.js';
import { loadHumanInference, storeModelStore } from '../ml/human/inference.js';
import { planHumanModels, type RuntimeParams } from '../ml/human/plan.js';
import { Store } from '../cache/store.js';
import { AGE_MODEL_FILES } from '../ml/human/model-names.js';
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
async function baseline(images: Uint8Array[], gear: InferenceModel): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < images.length; i += 32) {
    const faces = await Promise.all(images.slice(i, i + 32).map(decode));
    const crops = faces.map((f) =>
      tf.tidy(() => tf.div(tf.tensor4d(Float32Array.from(f.pixels), [1, f.height, f.width, 3]), 255) as tf.Tensor4D),
    );
    await runGear(gear, crops);
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
  runtime: RuntimeParams,
): Promise<{ rate: number; results: AgrResult[] }> {
  const results = new Array<AgrResult>(images.length);
  // As the stage plans them. The conversion to ONNX happens once per store (memoised there, as a stage's
  // second run finds it), so it is done before the clock starts, as the baseline loads its model first.
  const names = ['gear', options.genderModel, AGE_MODEL_FILES[options.ageModel]];
  await planHumanModels([...new Set(names)], runtime, 'wasm', modelStore);
  const started = performance.now();
  const plans = await planHumanModels([...new Set(names)], runtime, 'wasm', modelStore);
  await mapRequests<AgrRequest, AgrResult>({
    script: new URL('../stages/agr/worker.js', import.meta.url),
    count: images.length,
    perRequest: batch,
    workers,
    request: (indices) => ({
      backend: 'wasm',
      runtime,
      workers,
      plans,
      options,
      images: indices.map((i) => ({ bytes: images[i]!, detect: false })),
    }),
    onReply: (indices, replies) => replies.forEach((r, k) => (results[indices[k]!] = r)),
  });
  // Worker start-up and loading the sessions are in the time: a stage run pays them too.
  return { rate: images.length / ((performance.now() - started) / 1000), results };
}

const { detector } = defaultParams<AgrEntry>('agr.schema.json');
const DEFAULT_MODELS: PredictOptions = { detector, genderModel: 'faceres', ageModel: 'faceres' };
const FAST_MODELS: PredictOptions = { detector, genderModel: 'gear', ageModel: 'ssrnet' };
const ONNX: RuntimeParams = { provider: 'cpu', threads: 0 };
const TFJS: RuntimeParams = { provider: 'tfjs', threads: 0 };
const storeDir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'bench-agr-'));
const modelStore = storeModelStore(new Store(storeDir));

/** Whether two predictions agree within what rounding to 4 decimals (2 for years) and runtimes' floats allow. */
function agrees(a: AgrResult, b: AgrResult): boolean {
  if ('error' in a || 'error' in b || 'flag' in a || 'flag' in b) return JSON.stringify(a) === JSON.stringify(b);
  const close = (x: Record<string, number>, y: Record<string, number>) =>
    Object.keys(x).every((k) => Math.abs(x[k]! - y[k]!) <= 2e-4);
  return close(a.gender, b.gender) && close(a.ethnicity, b.ethnicity) && Math.abs(a.ageYears - b.ageYears) <= 0.02;
}

async function main(): Promise<void> {
  const images = await renderImages();
  await selectBackend('wasm');
  const gear = graphModelInference('gear', await loadHumanModel('gear'));
  await runGear(gear, [tf.zeros([1, 112, 112, 3]) as tf.Tensor4D]); // warm-up: the first execute compiles kernels
  const cores = os.availableParallelism();
  console.log(`${IMAGES} rendered 112×112 face crops; ${cores} cores`);
  const base = await baseline(images, gear);
  console.log(`baseline (gear alone on tfjs-wasm, 1 thread, batch 32, decoding included): ${base.toFixed(1)} images/s`);

  const runs: Array<[string, PredictOptions, number, number, RuntimeParams]> = [
    ['agr default (gear ethnicity + faceres gender/age)', DEFAULT_MODELS, cores, 16, ONNX],
    ['agr default', DEFAULT_MODELS, 1, 16, ONNX],
    ['agr fast (gear gender/ethnicity + SSR-Net age)', FAST_MODELS, cores, 16, ONNX],
    ['agr default on tfjs (the old path)', DEFAULT_MODELS, cores, 16, TFJS],
  ];
  let checked: AgrResult[] | undefined;
  for (const [name, options, workers, batch, runtime] of runs) {
    const { rate, results } = await workersPath(images, options, workers, batch, runtime);
    const where = `${workers} worker${workers > 1 ? 's' : ''}${runtime === ONNX ? ` × ${Math.max(1, cores / workers)} threads` : ''}`;
    console.log(`${name}, ${where}, batch ${batch}: ${rate.toFixed(1)} images/s`);
    console.log(`agr_vs_baseline (${name.split(' (')[0]}, ${workers}w b${batch}): ${(rate / base).toFixed(2)}`);
    if (options === DEFAULT_MODELS && runtime === ONNX && !checked) checked = results;
  }

  // The onnxruntime path against tfjs-wasm in this thread, image by image.
  const faceres = graphModelInference('faceres', await loadHumanModel('faceres'));
  const sample = await Promise.all(images.slice(0, 32).map(decode));
  const onTfjs = await predictAttributes(
    { gear, faceres },
    sample.map((image) => ({ image, detect: false })),
    DEFAULT_MODELS,
  );
  const agreeing = onTfjs.filter((r, i) => agrees(r, checked![i]!)).length;
  console.log(
    `onnxruntime results agree with tfjs-wasm within 2e-4 (0.02 years) on ${agreeing} of ${sample.length} images`,
  );
  if (agreeing !== sample.length) process.exitCode = 1;
  const onnxHere = await predictAttributes(
    { gear: await loadHumanInference('gear', { ...ONNX }), faceres: await loadHumanInference('faceres', { ...ONNX }) },
    sample.map((image) => ({ image, detect: false })),
    DEFAULT_MODELS,
  );
  const same = onnxHere.every((r, i) => JSON.stringify(r) === JSON.stringify(checked![i]));
  console.log(`worker results equal single-thread results on ${sample.length} images: ${same}`);
  if (!same) process.exitCode = 1;
  fs.rmSync(storeDir, { recursive: true, force: true });
}

await main();
