// Worker thread for the quality stage: decodes images, reduces each to its gray sample and hashes, measures
// its exposure and counts the faces blazeface finds.
import { decodeFaceImage } from '../../ml/human/face-image.js';
import { selectBackend, type BackendChoice } from '../../ml/runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { BLAZEFACE_MODEL, detectFaces, type DetectorOptions } from '../../ml/human/blazeface.js';
import { PlannedModels, type ModelPlan, type RuntimeParams } from '../../ml/human/plan.js';
import type { FaceImage } from '../../ml/architectures/backbone.js';
import { faceSample, hashWindows, windowOf } from '../../datasets/near-duplicates/alignment.js';
import { perceptualHash } from '../../datasets/near-duplicates/perceptual-hash.js';

export interface QualityRequest {
  backend: BackendChoice;
  runtime: RuntimeParams;
  workers: number;
  /** Where blazeface runs; absent when faces are not counted. */
  detectorPlan?: ModelPlan;
  detector: DetectorOptions;
  /** Images whose shorter side is below this are padded by half their side before detection (tight crops). */
  padBelow: number;
  images: Uint8Array[];
}

/** What the stage memoises per image: everything later steps need, so nothing is decoded twice. */
export interface ImageSignature {
  /**
   * 64-bit perceptual hashes as 16 hex digits: of the whole gray image first, then of its HASH_WINDOWS
   * (alignment.ts) in order; and of the whole mirror image.
   */
  hashes: string[];
  flippedHash: string;
  /** Mean and standard deviation of the gray levels (0..255). */
  mean: number;
  deviation: number;
  /** Share of pixels at most 10 and at least 245. */
  dark: number;
  bright: number;
  /** Faces blazeface found (null: not counted). */
  faces: number | null;
}

export type QualityReply = Array<{ signature: ImageSignature; sample: Uint8Array } | { error: string }>;

const loaded = new PlannedModels();
const hex = (value: bigint): string => value.toString(16).padStart(16, '0');

/** A tight face crop with a border of its mean gray, so the detector sees a face with some room around it. */
function padded(image: FaceImage): FaceImage {
  const border = Math.round(Math.max(image.width, image.height) / 2);
  const width = image.width + 2 * border;
  const height = image.height + 2 * border;
  const c = image.channels;
  let sum = 0;
  for (const v of image.pixels) sum += v;
  const out = new Uint8Array(width * height * c).fill(Math.round(sum / image.pixels.length));
  for (let y = 0; y < image.height; y++)
    out.set(image.pixels.subarray(y * image.width * c, (y + 1) * image.width * c), ((y + border) * width + border) * c);
  return { pixels: out, width, height, channels: c };
}

function exposure(sample: Uint8Array): Pick<ImageSignature, 'mean' | 'deviation' | 'dark' | 'bright'> {
  let sum = 0;
  let dark = 0;
  let bright = 0;
  for (const v of sample) {
    sum += v;
    if (v <= 10) dark++;
    if (v >= 245) bright++;
  }
  const mean = sum / sample.length;
  let variance = 0;
  for (const v of sample) variance += (v - mean) ** 2;
  const round = (x: number) => Number(x.toFixed(4));
  return {
    mean: round(mean),
    deviation: round(Math.sqrt(variance / sample.length)),
    dark: round(dark / sample.length),
    bright: round(bright / sample.length),
  };
}

serveRequests<QualityRequest, QualityReply>(async (request) => {
  const { backend, runtime, workers, detectorPlan, detector, padBelow, images } = request;
  await selectBackend(backend);
  const blazeface = detectorPlan ? await loaded.get(detectorPlan, runtime, workers) : undefined;
  const result: QualityReply = [];
  for (const bytes of images) {
    let image: FaceImage;
    try {
      image = await decodeFaceImage(bytes);
    } catch (error) {
      result.push({ error: `cannot decode: ${(error as Error).message}` });
      continue;
    }
    const sample = faceSample(image.pixels, image.width, image.height, image.channels);
    let faces: number | null = null;
    if (blazeface) {
      const seen = Math.min(image.width, image.height) < padBelow ? padded(image) : image;
      faces = (await detectFaces(blazeface, seen, detector)).length;
    }
    const signature: ImageSignature = {
      hashes: hashWindows(sample).map((thumb) => hex(perceptualHash(thumb))),
      flippedHash: hex(perceptualHash(windowOf(sample, [0, 0, 1, 1], 32, true))),
      ...exposure(sample),
      faces,
    };
    result.push({ signature, sample });
  }
  return { result, transfer: result.flatMap((r) => ('sample' in r ? [r.sample.buffer as ArrayBuffer] : [])) };
});

export { BLAZEFACE_MODEL };
