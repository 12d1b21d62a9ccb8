import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../ml/inference/model.js';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { ageBucket, type AgeThresholds } from '../datasets/age-buckets.js';
import { cutFace, detectFaces, type DetectorOptions } from '../ml/human/blazeface.js';
import { predictAttributes, type AttributeModels, type AttributePrediction } from '../ml/human/predict-attributes.js';
import { EMOTIONS, type Emotion } from '../datasets/vocabulary.js';
import { resizeSquare, toChannels } from '../datasets/images/raster.js';
import type { FaceImage } from '../ml/architectures/backbone.js';
import { emotionScores } from '../ml/human/emotion-oracle.js';
import type { Subgroup } from './types.js';

/** Which automatic checks replace the paper's inspection by hand; each can be turned off. */
export interface CheckSettings {
  /** Exactly one face (blazeface); the accepted image is then cut around it. */
  oneFace: boolean;
  /** The requested emotion must win in the reference classifier with at least this probability; null: no check. */
  emotion: { minScore: number } | null;
  /** Which of the agr predictors must agree with the requested subgroup. */
  attributes: Array<'gender' | 'age' | 'ethnicity'>;
  detector: DetectorOptions;
  ageBuckets: AgeThresholds;
}

/** The reference classifier: human-models' FER2013 `emotion` graph, or a pixel model a train stage made. */
export type ReferenceClassifier =
  | { kind: 'pretrained'; model: InferenceModel }
  | { kind: 'trained'; model: LayersModel; inputSize: number; channels: 1 | 3; stage: string };

export interface CheckModels {
  blazeface: InferenceModel;
  reference?: ReferenceClassifier;
  attributes?: AttributeModels;
}

export type Rejection = 'no-face' | 'several-faces' | 'emotion' | 'gender' | 'age' | 'ethnicity';

export interface Verdict {
  accepted: boolean;
  rejections: Rejection[];
  /** The square face box the image is cut at, where the detector ran and found one face. */
  face?: [number, number, number, number];
  /** The reference classifier's probability for each emotion, where it ran. */
  emotionScores?: Record<Emotion, number>;
  predicted?: { gender: string; age: string; ethnicity: string };
}

/** Probabilities in EMOTIONS order from a train stage's pixel model, fed as training fed it (PixelSource). */
function trainedScores(reference: Extract<ReferenceClassifier, { kind: 'trained' }>, face: FaceImage): Float32Array {
  let raster = toChannels(
    { width: face.width, height: face.height, channels: face.channels, data: face.pixels },
    reference.channels,
  );
  raster = resizeSquare(raster, reference.inputSize, 'cover');
  return tf
    .tidy(() => {
      const x = tf.div(
        tf.tensor4d(Float32Array.from(raster.data), [1, reference.inputSize, reference.inputSize, reference.channels]),
        255,
      );
      return (reference.model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    })
    .slice();
}

/** The square crop at a detector box, `size` pixels a side, as 8-bit RGB (outside the image is black). */
export function faceCrop(image: FaceImage, box: readonly [number, number, number, number], size = 192): FaceImage {
  const pixels = tf.tidy(() => tf.cast(tf.round(tf.mul(cutFace(image, box, size), 255)), 'int32').dataSync());
  return { pixels: Uint8Array.from(pixels), width: size, height: size, channels: 3 };
}

/**
 * Runs the enabled checks on one generated image, in order of cost; a failed check does not stop the others, so
 * the report says all that was wrong.
 */
export async function checkImage(
  models: CheckModels,
  image: FaceImage,
  wanted: { emotion: Emotion; subgroup: Subgroup },
  settings: CheckSettings,
): Promise<Verdict> {
  const rejections: Rejection[] = [];
  let face: FaceImage = image;
  let box: [number, number, number, number] | undefined;
  if (settings.oneFace) {
    const faces = await detectFaces(models.blazeface, image, settings.detector);
    if (faces.length !== 1) return { accepted: false, rejections: [faces.length === 0 ? 'no-face' : 'several-faces'] };
    box = faces[0]!.box;
    face = faceCrop(image, box);
  }
  const verdict: Verdict = { accepted: false, rejections, ...(box ? { face: box } : {}) };
  if (settings.emotion) {
    const reference = models.reference;
    if (!reference) throw new Error('the emotion check needs a reference classifier');
    const scores =
      reference.kind === 'pretrained'
        ? (await emotionScores(reference.model, [face]))[0]!
        : trainedScores(reference, face);
    verdict.emotionScores = Object.fromEntries(
      EMOTIONS.map((e, i) => [e, Number((scores[i] as number).toFixed(4))]),
    ) as Record<Emotion, number>;
    const index = EMOTIONS.indexOf(wanted.emotion);
    const best = scores.indexOf(Math.max(...scores));
    if (best !== index || (scores[index] as number) < settings.emotion.minScore) rejections.push('emotion');
  }
  if (settings.attributes.length) {
    if (!models.attributes) throw new Error('the attribute check needs the agr models');
    const [prediction] = (await predictAttributes(models.attributes, [{ image: face, detect: false }], {
      detector: settings.detector,
      genderModel: 'faceres',
      ageModel: 'faceres',
    })) as AttributePrediction[];
    const top = (scores: Record<string, number>) => Object.entries(scores).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    const predicted = {
      gender: top(prediction!.gender),
      age: ageBucket(prediction!.ageYears, settings.ageBuckets),
      ethnicity: top(prediction!.ethnicity),
    };
    verdict.predicted = predicted;
    for (const key of settings.attributes) if (predicted[key] !== wanted.subgroup[key]) rejections.push(key);
  }
  verdict.accepted = rejections.length === 0;
  return verdict;
}
