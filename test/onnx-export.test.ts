import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { EMOTIONS } from '../datasets/vocabulary.js';
import { backboneCrop, extractFeatures, BACKBONES, type FaceImage } from '../ml/architectures/backbone.js';
import { loadHumanModel } from '../ml/human/models.js';
import { graphModelInference } from '../ml/inference/model.js';
import type { InputView } from '../engine/stage.js';
import { trainedOnnxModel, type ModelMetadata } from '../ml/model-files.js';
import { exportLayersModel, UnsupportedLayerError } from '../ml/onnx/from-layers.js';
import { CONVERTER_VERSION } from '../ml/onnx/from-tfjs-graph.js';
import { modelMetadataProps } from '../ml/onnx/graph.js';
import { openOnnxModel } from '../ml/inference/session.js';
import { selectBackend } from '../ml/runtime.js';
import { exportSavedModel, exportTrainedModel } from '../ml/training/export-onnx.js';
import { EXPORTED_WITH_CONVERTER, ONNX_EXPORT_VERSION } from '../ml/training/export-version.js';
import { buildModel } from '../ml/training/model-spec.js';
import type { SavedModel } from '../ml/training/replicas.js';

const TOLERANCE = 1e-4;

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A few optimiser steps in training mode with fast-moving statistics, so every batch norm holds moving means
 * and variances far from their initial 0 and 1 (an export that ignored them would then be caught).
 */
async function trainBriefly(model: LayersModel, x: tf.Tensor, seed: number): Promise<void> {
  const random = seeded(seed);
  const n = x.shape[0]!;
  const labels = tf.oneHot(
    Int32Array.from({ length: n }, () => Math.floor(random() * EMOTIONS.length)),
    EMOTIONS.length,
  );
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  await model.fit(x, labels, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 });
  labels.dispose();
  for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const [, , mean, variance] = layer.getWeights().map((w) => Array.from(w.dataSync()));
    assert.ok(
      mean!.some((v) => Math.abs(v) > 1e-3),
      `${layer.name}'s moving mean moved`,
    );
    assert.ok(
      variance!.some((v) => Math.abs(v - 1) > 1e-3),
      `${layer.name}'s moving variance moved`,
    );
  }
}

/** The largest absolute difference between ONNX's and tfjs' probabilities, after checking they are worth comparing. */
function compare(label: string, onnx: Float32Array, tfjs: Float32Array): number {
  assert.equal(onnx.length, tfjs.length, `${label}: output sizes`);
  const worst = Math.max(...Array.from(tfjs, (v, i) => Math.abs(v - onnx[i]!)));
  // Probabilities that barely differ between images would make the comparison vacuous.
  assert.ok(Math.max(...tfjs) - Math.min(...tfjs) > 0.05, `${label}: tfjs gives spread-out probabilities`);
  assert.ok(worst <= TOLERANCE, `${label}: ONNX differs from tfjs by up to ${worst.toExponential(2)}`);
  console.log(`${label}: max |ONNX − tfjs| = ${worst.toExponential(2)}`);
  return worst;
}

const paperCnnMeta: ModelMetadata = { arch: 'paper-cnn', classes: [...EMOTIONS], inputSize: 48, channels: 1 };
const smallPaperCnn = () =>
  buildModel({
    arch: 'paper-cnn',
    inputSize: 48,
    channels: 1,
    width: 0.125,
    classes: EMOTIONS.length,
    dropout: 0.25,
    batchNormMomentum: 0.5,
  });

async function trainedPaperCnn(): Promise<{ model: LayersModel; x: tf.Tensor4D }> {
  await selectBackend('wasm');
  const model = smallPaperCnn();
  const random = seeded(7);
  const x = tf.tensor4d(Float32Array.from({ length: 16 * 48 * 48 }, random), [16, 48, 48, 1]);
  await trainBriefly(model, x, 1);
  return { model, x };
}

test('a trained paper CNN exported to ONNX gives the tfjs probabilities, in process and from a worker', async () => {
  const { model, x } = await trainedPaperCnn();
  const bytes = exportTrainedModel(model, paperCnnMeta);
  const onnx = await openOnnxModel(bytes, { provider: 'cpu', threads: 1 });
  try {
    const [probabilities] = await onnx.run(x.dataSync() as Float32Array, x.shape);
    assert.deepEqual(probabilities!.dims, [16, EMOTIONS.length]);
    const expected = (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    compare('paper CNN', probabilities!.data, expected);
  } finally {
    await onnx.release();
  }
  // The train stage exports what training saved, reloaded on another thread: the same file comes out.
  let saved: SavedModel | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts as SavedModel;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const fromWorker = await exportSavedModel(saved!, paperCnnMeta);
  assert.ok(Buffer.from(fromWorker).equals(Buffer.from(bytes)), 'the worker exports the same bytes');
});

/** Faces stand-ins: smooth gradients with noise, in different sizes, and one flat image (its stretch is all 0). */
function testImages(): FaceImage[] {
  const random = seeded(11);
  const sizes: Array<[number, number]> = [
    [120, 100],
    [96, 128],
    [64, 64],
    [150, 150],
  ];
  const images = sizes.map(([width, height], k) => {
    const pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      const [col, row] = [i % width, Math.floor(i / width)];
      for (let c = 0; c < 3; c++)
        pixels[i * 3 + c] = Math.min(255, ((col * (k + 1) + row * (c + 2)) % 200) + Math.floor(random() * 55));
    }
    return { pixels, width, height, channels: 3 as const };
  });
  return [...images, { pixels: new Uint8Array(80 * 80 * 3).fill(90), width: 80, height: 80, channels: 3 }];
}

for (const backbone of ['mobileface', 'faceres'] as const) {
  test(`a transfer head on ${backbone}: model.onnx on its crops matches extractFeatures + the head`, async () => {
    await selectBackend('wasm');
    const images = testImages();
    const graph = await loadHumanModel(backbone);
    const features = await extractFeatures(graphModelInference(backbone, graph), backbone, images);
    const { featureSize, inputSize } = BACKBONES[backbone];
    const head = buildModel({
      arch: 'transfer-head',
      featureSize,
      units: [16, 8],
      classes: EMOTIONS.length,
      dropout: 0.25,
      batchNormMomentum: 0.5,
    });
    // The head learns on these images' features, repeated, so its moving statistics are the features' own.
    const x = tf.tensor2d(
      Float32Array.from({ length: 4 * images.length * featureSize }, (_, i) => {
        const k = Math.floor(i / featureSize) % images.length;
        return features[k]![i % featureSize]!;
      }),
      [4 * images.length, featureSize],
    );
    await trainBriefly(head, x, 2);
    const expected = (
      head.predict(
        tf.tensor2d(Float32Array.from(features.flatMap((f) => [...f])), [images.length, featureSize]),
      ) as tf.Tensor
    ).dataSync() as Float32Array;
    const crops = tf.tidy(() =>
      tf.concat(
        images.map((image) =>
          backboneCrop(
            backbone,
            tf.div(tf.tensor4d(Float32Array.from(image.pixels), [1, image.height, image.width, 3]), 255),
          ),
        ),
        0,
      ),
    );
    const meta: ModelMetadata = { arch: 'transfer', classes: [...EMOTIONS], backbone };
    const bytes = exportTrainedModel(head, meta);
    if (backbone === 'faceres')
      assert.ok(!Buffer.from(bytes).includes('gender_pred'), "faceres' age and gender heads are left out");
    const onnx = await openOnnxModel(bytes, { provider: 'cpu', threads: 1 });
    try {
      const [probabilities] = await onnx.run(crops.dataSync() as Float32Array, [
        images.length,
        inputSize,
        inputSize,
        3,
      ]);
      compare(`transfer head on ${backbone}`, probabilities!.data, expected);
    } finally {
      await onnx.release();
      crops.dispose();
    }
  });
}

test('the metadata says how to feed the model and what comes out', async () => {
  await selectBackend('wasm');
  const props = modelMetadataProps(exportTrainedModel(smallPaperCnn(), paperCnnMeta));
  assert.equal(props.fer_dag_onnx_export, ONNX_EXPORT_VERSION);
  assert.equal(props.arch, 'paper-cnn');
  assert.deepEqual(JSON.parse(props.classes!), [...EMOTIONS]);
  assert.equal(props.input_layout, 'NHWC');
  assert.deepEqual(JSON.parse(props.input_shape!), ['batch', 48, 48, 1]);
  assert.equal(props.value_range, '0..1');
  assert.equal(props.channels, '1');
  assert.match(props.preprocessing!, /centred square.*48×48.*divide by 255/);
  assert.equal(props.backbone, undefined);

  const head = buildModel({
    arch: 'transfer-head',
    featureSize: 256,
    units: [8],
    classes: 7,
    dropout: 0,
    batchNormMomentum: 0.9,
  });
  const transfer = modelMetadataProps(
    exportTrainedModel(head, { arch: 'transfer', classes: [...EMOTIONS], backbone: 'mobileface' }),
  );
  assert.equal(transfer.backbone, 'mobileface');
  assert.deepEqual(JSON.parse(transfer.input_shape!), ['batch', 112, 112, 3]);
  assert.match(transfer.preprocessing!, /cut the box top 0.05, left 0.15, bottom 0.85, right 0.85.*112×112/);
});

test('a layer the exporter does not know is an error naming it; so is an activation', async () => {
  await selectBackend('wasm');
  const pooled = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, padding: 'same' }),
      tfl.layers.globalAveragePooling2d({ name: 'squeeze' }),
    ],
  });
  assert.throws(
    () => exportLayersModel(pooled),
    (error: Error) =>
      error instanceof UnsupportedLayerError && /layer "squeeze" \(GlobalAveragePooling2D\)/.test(error.message),
  );
  const tanh = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [4], units: 2, activation: 'tanh', name: 'odd' })],
  });
  assert.throws(() => exportLayersModel(tanh), /layer "odd" \(Dense\) has activation tanh/);
});

test('a train stage from before the export says to rerun it', () => {
  const view = { name: 'old-train', files: { 'model/model.json': { hash: 'h' } } } as unknown as InputView;
  assert.throws(
    () => trainedOnnxModel(view),
    /"old-train" was trained before .* no model\/model.onnx; rerun old-train/,
  );
  const notTrain = { name: 'merge', files: {} } as unknown as InputView;
  assert.throws(() => trainedOnnxModel(notTrain), /"merge" has no model\/model.onnx: models: must name train stages/);
});

test('the export version names the converter version it was written with', () => {
  assert.equal(
    CONVERTER_VERSION,
    EXPORTED_WITH_CONVERTER,
    'the backbone converter changed: bump ONNX_EXPORT_VERSION and EXPORTED_WITH_CONVERTER (export-version.ts)',
  );
});
