import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { graphModelInference, type InferenceModel } from '../ml/inference/model.js';
import { BACKBONES, extractFeatures, type BackboneName, type FaceImage } from '../ml/architectures/backbone.js';
import {
  humanModelFiles,
  humanModelNames,
  humanModelPath,
  humanModelsDir,
  loadHumanModel,
} from '../ml/human/models.js';
import { selectBackend } from '../ml/runtime.js';

/**
 * A smooth image that changes with `seed`: two shaded blobs on a ramp, at a FER-like size. Smooth rather than
 * noisy because both backbones resize, and noise would average away to near-identical inputs.
 */
function image(seed: number, size: number, channels: 1 | 3): FaceImage {
  const pixels = new Uint8Array(size * size * channels);
  const cx = size * (0.3 + 0.1 * (seed % 4)),
    cy = size * (0.35 + 0.07 * (seed % 5));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const blob = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.04 * size * size));
      const mouth = Math.exp(
        -((x - size / 2) ** 2 / (0.02 * size * size) + (y - size * 0.75) ** 2 / (0.004 * size * size)),
      );
      for (let c = 0; c < channels; c++) {
        const ramp = (x + y * (1 + c + seed)) / (size * (2 + c + seed));
        pixels[(y * size + x) * channels + c] = Math.round(
          255 * Math.min(1, 0.2 + 0.3 * ramp + 0.5 * blob - 0.3 * mouth * (seed % 2)),
        );
      }
    }
  }
  return { pixels, width: size, height: size, channels };
}

/** The same pixels with each gray value copied into R, G and B. */
function asRgb(gray: FaceImage): FaceImage {
  const pixels = new Uint8Array(gray.pixels.length * 3);
  gray.pixels.forEach((v, i) => pixels.fill(v, i * 3, i * 3 + 3));
  return { ...gray, pixels, channels: 3 };
}

const largestDifference = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const largestMagnitude = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

before(async () => {
  await selectBackend('wasm');
});

test('a model name the package lacks is an error that lists the names it has', () => {
  const names = humanModelNames();
  assert.ok(names.includes('mobileface') && names.includes('faceres') && names.includes('emotion'));
  assert.throws(() => humanModelPath('mobilefaces'), {
    message: `no human model named "mobilefaces" in ${humanModelsDir()}; available: ${names.join(', ')}`,
  });
  // A name is looked up, never joined onto the folder, so a path cannot reach outside the package.
  assert.throws(() => humanModelFiles('../models/faceres'), /no human model named "\.\.\/models\/faceres"/);
});

test("a model's files are its json and every weight shard its manifest names", () => {
  const files = humanModelFiles('faceres');
  assert.equal(files.json, path.join(humanModelsDir(), 'faceres.json'));
  assert.deepEqual(files.bin, [path.join(humanModelsDir(), 'faceres.bin')]);
  for (const file of [files.json, ...files.bin]) assert.ok(existsSync(file), file);
});

test('a model loads from disk without touching the network, keeping the metadata its json carries', async () => {
  const realFetch = globalThis.fetch;
  globalThis.fetch = () => Promise.reject(new Error('the network was used'));
  let model: GraphModel | undefined;
  try {
    model = await loadHumanModel('emotion');
  } finally {
    globalThis.fetch = realFetch;
  }
  // emotion keeps its signature inside userDefinedMetadata, where tfjs looks when the json has none of its own.
  const json = JSON.parse(readFileSync(humanModelPath('emotion'), 'utf8')) as {
    userDefinedMetadata: { signature: object };
  };
  assert.deepEqual(model.metadata, json.userDefinedMetadata);
  assert.deepEqual(model.modelSignature, json.userDefinedMetadata.signature);
  assert.deepEqual(model.inputs[0]!.shape, [-1, 64, 64, 1]);
  model.dispose();
});

/**
 * Sum and L2 norm of the features of `image(7, 48, 1)` (a FER2013-sized gray image) as this module computed
 * them on wasm, after its faceres path was checked bit for bit against human 3.3.6's own descriptors. Sum and
 * norm rather than a few values because faceres's pooled ReLU features are mostly zeros on such an image. A
 * change here means the preprocessing or the weights changed, and features cached before no longer match.
 */
const PINNED: Record<BackboneName, { sum: number; norm: number }> = {
  mobileface: { sum: 0.16552646, norm: 83.565494 },
  faceres: { sum: 6.3260577, norm: 1.2587199 },
};

for (const name of ['mobileface', 'faceres'] as const) {
  describe(`the ${name} backbone`, () => {
    const { inputSize, featureSize } = BACKBONES[name];
    // On tfjs: the pinned sums below were measured there (test/onnx-convert.test.ts compares the runtimes).
    let raw: GraphModel;
    let model: InferenceModel;

    before(async () => {
      raw = await loadHumanModel(BACKBONES[name].model);
      model = graphModelInference(BACKBONES[name].model, raw);
    });

    test(`takes ${inputSize}×${inputSize} RGB and gives ${featureSize} features an image`, async () => {
      const json = JSON.parse(readFileSync(humanModelPath(BACKBONES[name].model), 'utf8')) as { signature: object };
      assert.deepEqual(raw.modelSignature, json.signature);
      assert.deepEqual(model.inputShape, [-1, inputSize, inputSize, 3]);
      const features = await extractFeatures(model, name, [image(1, 48, 1), image(2, 64, 3)]);
      assert.equal(features.length, 2);
      for (const f of features) {
        assert.equal(f.length, featureSize);
        assert.ok(f.every(Number.isFinite));
      }
      assert.deepEqual(await extractFeatures(model, name, []), []);
    });

    test('the same images give identical features and different images different ones', async () => {
      const images = [image(3, 48, 1), image(4, 48, 1)];
      const [a, b] = await extractFeatures(model, name, images);
      const [again] = await extractFeatures(model, name, images);
      assert.deepEqual(again, a);
      assert.ok(largestDifference(a!, b!) > 1e-3 * largestMagnitude(a!), 'two images, one feature vector');
    });

    test('a gray image gives the features of its RGB copy', async () => {
      const gray = image(5, 48, 1);
      const [fromGray, fromRgb] = await extractFeatures(model, name, [gray, asRgb(gray)]);
      assert.ok(largestDifference(fromGray!, fromRgb!) <= 1e-5 * largestMagnitude(fromGray!));
    });

    test('feature extraction leaves no tensors behind', async () => {
      await extractFeatures(model, name, [image(6, 48, 1)]); // first run: anything tfjs caches once is made here
      const before = tf.memory().numTensors;
      await extractFeatures(model, name, [image(6, 48, 1), image(7, 64, 3)]);
      assert.equal(tf.memory().numTensors, before);
    });

    test('a wrongly sized pixel buffer is an error naming the sizes, and leaves no tensors behind', async () => {
      const before = tf.memory().numTensors;
      await assert.rejects(
        extractFeatures(model, name, [
          image(8, 48, 1),
          { pixels: new Uint8Array(10), width: 4, height: 4, channels: 1 },
        ]),
        {
          message: 'image of 4×4×1 needs 16 bytes, got 10',
        },
      );
      assert.equal(tf.memory().numTensors, before);
    });

    test('the features of a fixed image have not drifted', async () => {
      const [features] = await extractFeatures(model, name, [image(7, 48, 1)]);
      const sum = features!.reduce((a, v) => a + v, 0);
      const norm = Math.hypot(...features!);
      const pinned = PINNED[name];
      // Tight because human's 0..1 input leaves mobileface's features nearly constant (see backbone.ts):
      // moving its crop by 1% of the face changes the norm by 6e-5 of itself. wasm arithmetic is IEEE, so
      // the slack only covers a differently ordered sum in another build of the backend.
      const close = (got: number, want: number) => Math.abs(got - want) <= 2e-6 * pinned.norm;
      assert.ok(
        close(sum, pinned.sum) && close(norm, pinned.norm),
        `sum ${sum}, norm ${norm}; pinned ${JSON.stringify(pinned)}`,
      );
    });
  });
}
