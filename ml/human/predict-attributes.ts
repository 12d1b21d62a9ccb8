import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../inference/model.js';
import type { Ethnicity, Gender } from '../../datasets/vocabulary.js';
import type { FaceImage } from '../architectures/backbone.js';
import { runFaceres, runGear, runSsrnetAge, type AgeModel } from './attribute-models.js';
import { cutFace, detectFaces, rgbTensor, type DetectorOptions } from './blazeface.js';

export type GenderModel = 'faceres' | 'gear';

export interface PredictOptions {
  detector: DetectorOptions;
  genderModel: GenderModel;
  ageModel: AgeModel;
}

/** The human-models graphs a prediction needs, by role. */
export interface AttributeModels {
  gear: InferenceModel;
  blazeface?: InferenceModel;
  faceres?: InferenceModel;
  ssrnet?: InferenceModel;
}

export interface FoundFace {
  /** The crop given to the attribute models, in image pixels: [x, y, width, height]. */
  box: [number, number, number, number];
  score: number;
}

export interface AttributePrediction {
  /** Absent when the image is a face crop and went to the models whole. */
  face?: FoundFace;
  gender: Record<Gender, number>;
  ethnicity: Record<Ethnicity, number>;
  ageYears: number;
  /** P(age = 0 … 99 years), where the age model gives a distribution (faceres): bucket scores come from it. */
  ageDistribution?: number[];
}

/** An image the detector could not reduce to one face: it gets no attributes rather than a guess. */
export interface FlaggedImage {
  flag: 'no-face' | 'several-faces';
  faces: FoundFace[];
}

export interface PredictItem {
  image: FaceImage;
  /** Look for the face first (a photo, a portrait), or take the image as the face crop. */
  detect: boolean;
}

/** The size human cuts a detected face to before its attribute models resize it again (facemesh's input). */
const FACE_CROP_SIZE = 192;

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

/**
 * Gender, age and ethnicity for each item, or the reason it has none. Items are batched through each
 * attribute model together; the detector runs one image at a time (its graph takes a batch of one).
 */
export async function predictAttributes(
  models: AttributeModels,
  items: readonly PredictItem[],
  options: PredictOptions,
): Promise<Array<AttributePrediction | FlaggedImage>> {
  const results = new Array<AttributePrediction | FlaggedImage>(items.length);
  const crops: tf.Tensor4D[] = [];
  const cropOwners: Array<{ index: number; face?: FoundFace }> = [];
  try {
    for (const [index, { image, detect }] of items.entries()) {
      if (!detect) {
        crops.push(tf.tidy(() => tf.div(rgbTensor(image), 255) as tf.Tensor4D));
        cropOwners.push({ index });
        continue;
      }
      if (!models.blazeface) throw new Error('face detection needs the blazeface model');
      const faces = (await detectFaces(models.blazeface, image, options.detector)).map((f) => ({
        box: f.box,
        score: round(f.score),
      }));
      if (faces.length !== 1) {
        results[index] = { flag: faces.length === 0 ? 'no-face' : 'several-faces', faces };
        continue;
      }
      crops.push(cutFace(image, faces[0]!.box, FACE_CROP_SIZE));
      cropOwners.push({ index, face: faces[0]! });
    }
    const gear = await runGear(models.gear, crops);
    const faceres =
      options.genderModel === 'faceres' || options.ageModel === 'faceres'
        ? await runFaceres(need(models.faceres, 'faceres'), crops)
        : [];
    const ssrnet = options.ageModel === 'ssrnet' ? await runSsrnetAge(need(models.ssrnet, 'age'), crops) : [];
    cropOwners.forEach(({ index, face }, k) => {
      const g = gear[k]!;
      const f = faceres[k];
      const gender = options.genderModel === 'faceres' ? { female: 1 - f!.male, male: f!.male } : g.gender;
      const ageYears = options.ageModel === 'faceres' ? f!.age : options.ageModel === 'ssrnet' ? ssrnet[k]! : g.age;
      results[index] = {
        ...(face ? { face } : {}),
        gender: { female: round(gender.female), male: round(gender.male) },
        ethnicity: Object.fromEntries(Object.entries(g.ethnicity).map(([e, p]) => [e, round(p)])) as Record<
          Ethnicity,
          number
        >,
        ageYears: round(ageYears, 2),
        ...(options.ageModel === 'faceres'
          ? { ageDistribution: Array.from(f!.ageDistribution, (p) => round(p, 5)) }
          : {}),
      };
    });
    return results;
  } finally {
    tf.dispose(crops);
  }
}

function need(model: InferenceModel | undefined, name: string): InferenceModel {
  if (!model) throw new Error(`the ${name} model was not loaded`);
  return model;
}
