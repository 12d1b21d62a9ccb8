import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { defaultParams } from '../engine/spec/schema-check.js';
import type { SynthesizeEntry } from '../schemas/types/synthesize.js';
import { seededRandom } from '../lib/random.js';
import { personInSubgroup } from '../synth/faces/attributes.js';
import { renderFace } from '../synth/faces/render.js';
import { STYLES } from '../synth/faces/styles.js';
import type { FaceImage } from '../ml/architectures/backbone.js';
import { loadHumanInference } from '../ml/human/inference.js';
import { selectBackend } from '../ml/runtime.js';
import { checkImage, type CheckSettings, type ReferenceClassifier } from '../synth/checks.js';
import { attemptSeed, personPhrase, promptFor } from '../synth/prompts.js';

/**
 * A "classifier" that always says happy with p = e⁵ / (e⁵ + 6) ≈ 0.961: a dense layer with zero weights and a
 * fixed bias.
 */
function alwaysHappy(): ReferenceClassifier {
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [24, 24, 1] }),
      tfl.layers.dense({
        units: 7,
        activation: 'softmax',
        kernelInitializer: 'zeros',
        biasInitializer: tfl.initializers.constant({ value: 0 }),
      }),
    ],
  });
  const [kernel] = model.layers[1]!.getWeights();
  model.layers[1]!.setWeights([kernel!, tf.tensor1d([0, 0, 0, 5, 0, 0, 0])]);
  return { kind: 'trained', model, inputSize: 24, channels: 1, stage: 'always-happy' };
}

async function portrait(): Promise<FaceImage> {
  const rng = seededRandom(5);
  const face = await renderFace(STYLES.affectnet, 192, rng, 'happy', personInSubgroup(rng, 'female', 'young', 'asian'));
  const pixels = await sharp({
    create: { width: 320, height: 320, channels: 3, background: { r: 90, g: 110, b: 130 } },
  })
    .composite([
      {
        input: await sharp(face.pixels, { raw: { width: 192, height: 192, channels: 3 } })
          .png()
          .toBuffer(),
        left: 64,
        top: 64,
      },
    ])
    .removeAlpha()
    .raw()
    .toBuffer();
  return { pixels, width: 320, height: 320, channels: 3 };
}

// The synthesize stage's defaults for the face detector and the age buckets, as a pipeline without them gets.
const { detector, ageBuckets } = defaultParams<SynthesizeEntry>('synthesize.schema.json');
const settings = (over: Partial<CheckSettings>): CheckSettings => ({
  oneFace: true,
  emotion: { minScore: 0.5 },
  attributes: [],
  detector,
  ageBuckets,
  ...over,
});

test('the emotion check rejects an image whose requested emotion does not win in the reference classifier, and accepts one that does', async () => {
  await selectBackend('auto');
  const blazeface = await loadHumanInference('blazeface', { provider: 'cpu', threads: 1 });
  const models = { blazeface, reference: alwaysHappy() };
  const image = await portrait();
  const subgroup = { gender: 'female', age: 'young', ethnicity: 'asian' } as const;
  const asSad = await checkImage(models, image, { emotion: 'sad', subgroup }, settings({}));
  assert.deepEqual(asSad.rejections, ['emotion']);
  assert.ok(asSad.face, 'the face was found and cut');
  assert.ok(asSad.emotionScores!.happy > 0.9);
  const asHappy = await checkImage(models, image, { emotion: 'happy', subgroup }, settings({}));
  assert.equal(asHappy.accepted, true);
  // Above the bar but below minScore is a rejection too.
  assert.deepEqual(
    (await checkImage(models, image, { emotion: 'happy', subgroup }, settings({ emotion: { minScore: 0.97 } })))
      .rejections,
    ['emotion'],
  );
  // A canvas with no face fails before any classifier is asked.
  const blank: FaceImage = { pixels: new Uint8Array(320 * 320 * 3).fill(128), width: 320, height: 320, channels: 3 };
  assert.deepEqual(await checkImage(models, blank, { emotion: 'happy', subgroup }, settings({})), {
    accepted: false,
    rejections: ['no-face'],
  });
});

test("the attribute check compares agr's predictions with the subgroup asked for, attribute by attribute", async () => {
  await selectBackend('auto');
  const [blazeface, gear, faceres] = await Promise.all(
    ['blazeface', 'gear', 'faceres'].map((name) => loadHumanInference(name, { provider: 'cpu', threads: 1 })),
  );
  const models = { blazeface: blazeface!, attributes: { gear: gear!, faceres: faceres! } };
  const image = await portrait();
  const verdict = await checkImage(
    models,
    image,
    { emotion: 'happy', subgroup: { gender: 'female', age: 'young', ethnicity: 'asian' } },
    settings({ emotion: null, attributes: ['gender', 'age', 'ethnicity'] }),
  );
  const predicted = verdict.predicted!;
  assert.deepEqual(
    verdict.rejections,
    (['gender', 'age', 'ethnicity'] as const).filter(
      (k) => predicted[k] !== { gender: 'female', age: 'young', ethnicity: 'asian' }[k],
    ),
  );
  // Asking for exactly what was predicted passes.
  const same = await checkImage(
    models,
    image,
    { emotion: 'happy', subgroup: predicted as never },
    settings({ emotion: null, attributes: ['gender', 'age', 'ethnicity'] }),
  );
  assert.equal(same.accepted, true);
});

test("prompts put the subgroup's words where <person> is; seeds differ per attempt and place and repeat per run", () => {
  const subgroup = { gender: 'female', age: 'old', ethnicity: 'others' } as const;
  assert.equal(personPhrase(subgroup), 'others old female');
  assert.equal(personPhrase(subgroup, { others: 'hispanic' }), 'hispanic old female');
  const templates = {
    angry: 'a <person>, angry',
    disgust: 'd <person>',
    fear: 'f <person>',
    happy: 'h <person>',
    neutral: 'n <person>',
    sad: 's <person>',
    surprise: 'su <person>',
  };
  assert.equal(promptFor(templates, 'angry', subgroup, { others: 'hispanic' }), 'a hispanic old female, angry');
  assert.throws(() => promptFor({ ...templates, sad: 'no person here' }, 'sad', subgroup), /no <person>/);
  const where = { source: 'nhfi', emotion: 'sad', subgroup: 'female-old-others', slot: 0 };
  assert.equal(attemptSeed(7, where, 0), attemptSeed(7, where, 0));
  const seeds = new Set([
    attemptSeed(7, where, 0),
    attemptSeed(7, where, 1),
    attemptSeed(7, { ...where, slot: 1 }, 0),
    attemptSeed(8, where, 0),
    attemptSeed(7, { ...where, source: 'fer2013' }, 0),
  ]);
  assert.equal(seeds.size, 5);
});
