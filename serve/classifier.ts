import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadTrainedModel, modelMetadata, type ModelMetadata } from '../ml/model-files.js';
import { toChannels, type Raster } from '../datasets/images/raster.js';
import { modelPixels } from '../ml/training/examples.js';
import { extractFeatures, type BackboneName } from '../ml/architectures/backbone.js';
import type { InferenceModel } from '../ml/inference/model.js';
import type { InputView } from '../engine/stage.js';

/** A train stage's model, ready to label face crops. */
export interface FaceClassifier {
  readonly stage: string;
  readonly classes: readonly string[];
  readonly metadata: ModelMetadata;
  /** Class probabilities per crop, in one batch per call. */
  classify(crops: readonly Raster[]): Promise<Float32Array[]>;
  dispose(): void;
}

/**
 * Loads the model of a train stage and prepares crops the way training read its images: paper-cnn gets
 * them through the same `modelPixels` as PixelSource; transfer gets the frozen backbone's features of the
 * RGB crop, as features-worker computes them, then its head.
 */
export async function loadFaceClassifier(
  view: InputView,
  loadBackbone: (name: BackboneName) => Promise<InferenceModel>,
): Promise<FaceClassifier> {
  const metadata = modelMetadata(view);
  const model: LayersModel = await loadTrainedModel(view);
  const backboneName: BackboneName = metadata.backbone ?? 'mobileface';
  const backbone = metadata.arch === 'transfer' ? await loadBackbone(backboneName) : undefined;
  const inputShape = (model.inputs[0]?.shape ?? []).slice(1) as number[];
  const exampleSize = inputShape.reduce((a, b) => a * b, 1);

  async function inputs(crops: readonly Raster[]): Promise<Float32Array> {
    if (backbone) {
      const features = await extractFeatures(
        backbone,
        backboneName,
        crops.map((crop) => {
          const rgb = toChannels(crop, 3);
          return { pixels: rgb.data, width: rgb.width, height: rgb.height, channels: 3 as const };
        }),
      );
      const x = new Float32Array(crops.length * exampleSize);
      features.forEach((f, i) => x.set(f, i * exampleSize));
      return x;
    }
    const spec = { inputSize: metadata.inputSize as number, channels: metadata.channels as 1 | 3 };
    const x = new Float32Array(crops.length * exampleSize);
    crops.forEach((crop, i) => x.set(modelPixels(crop, spec), i * exampleSize));
    return x;
  }

  return {
    stage: view.name,
    classes: metadata.classes,
    metadata,
    async classify(crops) {
      if (!crops.length) return [];
      const x = await inputs(crops);
      const probabilities = tf.tidy(
        () => (model.predict(tf.tensor(x, [crops.length, ...inputShape])) as tf.Tensor).dataSync() as Float32Array,
      );
      const classes = probabilities.length / crops.length;
      return crops.map((_, i) => probabilities.slice(i * classes, (i + 1) * classes));
    },
    dispose() {
      model.dispose();
      backbone?.dispose();
    },
  };
}
