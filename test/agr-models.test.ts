import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { GEAR_ETHNICITIES, gearAge } from '../ml/human/attribute-models.js';
import { agreement, annotatedAttributes, annotatedPartial } from '../datasets/attributes.js';
import { ageBucket, bucketScores } from '../datasets/age-buckets.js';
import {
  predictAttributes,
  type AttributeModels,
  type AttributePrediction,
  type FlaggedImage,
} from '../ml/human/predict-attributes.js';
import { defaultParams } from '../engine/spec/schema-check.js';
import type { AgrEntry } from '../schemas/types/agr.js';
import { seededRandom } from '../lib/random.js';
import { sceneSvg } from '../synth/faces/render.js';
import { STYLES } from '../synth/faces/styles.js';
import type { FaceImage } from '../ml/architectures/backbone.js';
import { loadHumanInference } from '../ml/human/inference.js';
import { selectBackend } from '../ml/runtime.js';

/** A 224×224 procedural face, as the demo's AffectNet-style source draws it. */
async function faceCrop(seed: number): Promise<Buffer> {
  const { svg } = sceneSvg(STYLES.affectnet, 224, seededRandom(seed), 'happy');
  return sharp(Buffer.from(svg)).removeAlpha().png().toBuffer();
}

/** A 512×512 grey canvas with the given face crops pasted at (left, top). */
async function portrait(faces: Array<{ left: number; top: number; seed: number }>): Promise<FaceImage> {
  const composite = await Promise.all(
    faces.map(async ({ left, top, seed }) => ({ input: await faceCrop(seed), left, top })),
  );
  const pixels = await sharp({
    create: { width: 512, height: 512, channels: 3, background: { r: 120, g: 124, b: 128 } },
  })
    .composite(composite)
    .removeAlpha()
    .raw()
    .toBuffer();
  return { pixels, width: 512, height: 512, channels: 3 };
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

let models: Promise<AttributeModels> | undefined;
function loadModels(): Promise<AttributeModels> {
  models ??= (async () => {
    await selectBackend('auto');
    const [gear, faceres, ssrnet, blazeface] = await Promise.all(
      ['gear', 'faceres', 'age', 'blazeface'].map((name) => loadHumanInference(name, { provider: 'cpu', threads: 1 })),
    );
    return { gear: gear!, faceres: faceres!, ssrnet: ssrnet!, blazeface: blazeface! };
  })();
  return models;
}

// The agr stage's defaults, as a pipeline that leaves them out gets them.
const agrDefaults = defaultParams<AgrEntry>('agr.schema.json');
const options = { detector: agrDefaults.detector, genderModel: 'faceres' as const, ageModel: 'faceres' as const };

test('the real gear, faceres and age models give probabilities and an age for a face crop', async () => {
  const m = await loadModels();
  const raw = await sharp(await faceCrop(11))
    .raw()
    .toBuffer({ resolveWithObject: true });
  const crop: FaceImage = { pixels: raw.data, width: raw.info.width, height: raw.info.height, channels: 3 };
  const gray: FaceImage = {
    pixels: await sharp(await faceCrop(12))
      .grayscale()
      .raw()
      .toBuffer(),
    width: 224,
    height: 224,
    channels: 1,
  };
  const [colour, grey] = (await predictAttributes(
    m,
    [
      { image: crop, detect: false },
      { image: gray, detect: false },
    ],
    options,
  )) as AttributePrediction[];
  for (const p of [colour!, grey!]) {
    assert.equal(p.face, undefined, 'a face crop goes to the models whole');
    assert.deepEqual(Object.keys(p.gender).sort(), ['female', 'male']);
    assert.ok(Math.abs(sum(Object.values(p.gender)) - 1) < 1e-3);
    assert.deepEqual(Object.keys(p.ethnicity), [...GEAR_ETHNICITIES]);
    assert.ok(Object.values(p.ethnicity).every((s) => s >= 0 && s <= 1));
    assert.ok(
      Math.abs(sum(Object.values(p.ethnicity)) - 1) < 2e-3,
      `ethnicity scores sum to ${sum(Object.values(p.ethnicity))}`,
    );
    assert.equal(p.ageDistribution?.length, 100);
    assert.ok(Math.abs(sum(p.ageDistribution!) - 1) < 2e-3);
    assert.ok(p.ageYears > 0 && p.ageYears < 100, `age ${p.ageYears}`);
    const expected = sum(p.ageDistribution!.map((q, year) => q * year));
    assert.ok(Math.abs(expected - p.ageYears) < 0.05, 'faceres age is the expectation of its distribution');
  }
  // SSR-Net and gear give an age too, and the same image gives the same answer in a batch of one or two.
  const [ssr] = (await predictAttributes(m, [{ image: crop, detect: false }], {
    ...options,
    ageModel: 'ssrnet',
  })) as AttributePrediction[];
  assert.ok(ssr!.ageYears > 0 && ssr!.ageYears < 100 && ssr!.ageDistribution === undefined);
  const [alone] = (await predictAttributes(m, [{ image: crop, detect: false }], options)) as AttributePrediction[];
  assert.deepEqual(alone, colour);
});

test('a portrait is cropped at its face; an empty canvas and a canvas with two faces are flagged, not guessed', async () => {
  const m = await loadModels();
  const one = await portrait([{ left: 140, top: 100, seed: 21 }]);
  const two = await portrait([
    { left: 10, top: 150, seed: 22 },
    { left: 280, top: 150, seed: 23 },
  ]);
  const none = await portrait([]);
  const [found, several, empty] = await predictAttributes(
    m,
    [one, two, none].map((image) => ({ image, detect: true })),
    options,
  );
  const face = (found as AttributePrediction).face!;
  assert.ok(face, 'one face: cropped and predicted');
  assert.ok(face.score >= agrDefaults.detector.minConfidence && face.score <= 1);
  // The pasted 224×224 crop spans x 140–364, y 100–324; the square crop around the detected face lies over it.
  const [x, y, w, h] = face.box;
  assert.equal(w, h, 'the crop is square');
  const centre = [x + w / 2, y + h / 2];
  assert.ok(Math.abs(centre[0]! - 252) < 40 && Math.abs(centre[1]! - 212) < 50, `face centre ${centre.join(', ')}`);
  assert.ok(w > 80 && w < 400, `crop side ${w}`);
  assert.ok((found as AttributePrediction).gender && (found as AttributePrediction).ageYears > 0);

  assert.equal((several as FlaggedImage).flag, 'several-faces');
  assert.equal((several as FlaggedImage).faces.length, 2);
  const xs = (several as FlaggedImage).faces.map((f) => f.box[0] + f.box[2] / 2).sort((a, b) => a - b);
  assert.ok(xs[0]! < 256 && xs[1]! > 256, 'one face on each side');
  assert.deepEqual(empty, { flag: 'no-face', faces: [] });
});

test('age buckets: 14.9 is a child, 15 young, 29.9 young, 30 adult, 64.9 adult, 65 old; thresholds are params', () => {
  const t = agrDefaults.ageBuckets;
  assert.deepEqual(
    [0, 14.9, 15, 29.9, 30, 64.9, 65, 99].map((y) => ageBucket(y, t)),
    ['child', 'child', 'young', 'young', 'adult', 'adult', 'old', 'old'],
  );
  assert.equal(ageBucket(17, { young: 18, adult: 30, old: 60 }), 'child');
  assert.equal(ageBucket(60, { young: 18, adult: 30, old: 60 }), 'old');
  assert.throws(() => ageBucket(Number.NaN, t), /not a number/);
  // Bucket scores add up a distribution over whole years by where each year falls.
  const distribution = Array.from({ length: 100 }, (_, year) =>
    year === 14 ? 0.25 : year === 15 ? 0.5 : year === 65 ? 0.25 : 0,
  );
  assert.deepEqual(bucketScores(distribution, t), { child: 0.25, young: 0.5, adult: 0, old: 0.25 });
});

test("gear's age is human's: the likeliest bin's centre, pulled toward the others by their probabilities", () => {
  assert.equal(gearAge([0, 0, 1, 0, 0, 0, 0]), 28);
  // Start at 35.5 (0.6), then 0.4 of the way to 45.5.
  assert.ok(Math.abs(gearAge([0, 0, 0, 0.6, 0.4, 0, 0]) - 39.5) < 1e-9);
});

test('annotations give each attribute only where they say it: an age range gives a bucket only when it lies in one', () => {
  const t = agrDefaults.ageBuckets;
  assert.deepEqual(
    annotatedPartial({ gender: 'female', ethnicity: 'asian', ageMin: 20, ageMax: 39 }, t),
    { gender: 'female', ethnicity: 'asian' },
    '20–39 spans young and adult',
  );
  assert.deepEqual(annotatedPartial({ ethnicity: 'black', ageMin: 70, ageMax: 120 }, t), {
    ethnicity: 'black',
    age: 'old',
  });
  assert.deepEqual(annotatedPartial({ ageMin: 0, ageMax: 3 }, t), { age: 'child' });
  assert.deepEqual(
    annotatedPartial({ ageMin: 15, ageMax: 29 }, t),
    { age: 'young' },
    'up to 29 whole years is below 30',
  );
  assert.deepEqual(annotatedPartial({ gender: 'unsure', age: 'adult', ageYears: 64.9, ethnicity: 'white' }, t), {
    age: 'adult',
    ageYears: 64.9,
    ethnicity: 'white',
  });
  assert.equal(annotatedAttributes({ gender: 'male', age: 'old', ethnicity: 'indian' }, t)?.age, 'old');
  assert.equal(annotatedAttributes({ gender: 'male', ageMin: 20, ageMax: 39, ethnicity: 'indian' }, t), undefined);
  // Agreement counts each attribute over the images annotated with it.
  const predicted = { gender: 'male' as const, age: 'young' as const, ageYears: 25, ethnicity: 'white' as const };
  const table = agreement([
    { annotated: { gender: 'male', ethnicity: 'asian' }, predicted },
    { annotated: { gender: 'female', age: 'young', ageYears: 20, ethnicity: 'white' }, predicted },
  ]);
  assert.deepEqual(
    [table.gender.images, table.gender.agree, table.age.images, table.age.agree, table.ethnicity.agree],
    [2, 1, 1, 1, 1],
  );
  assert.equal(table.ageYearsMeanAbsoluteError, 5);
  assert.equal(table.gender.confusion.female!.male, 1);
});
