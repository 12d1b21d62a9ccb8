import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { InputView } from '../engine/stage.js';
import { toChannels, type Raster } from '../datasets/images/raster.js';
import { backboneCrop, extractFeatures, type BackboneName, type FaceImage } from './architectures/backbone.js';
import { loadHumanModel } from './human/models.js';
import { loadTrainedModel, modelMetadata, trainedOnnxModel, type ModelMetadata } from './model-files.js';
import { loadOnnxRuntime, openOnnxModel, ProviderUnavailableError, type OnnxModel } from './inference/session.js';
import { modelPixels } from './training/examples.js';
import { graphModelInference } from './inference/model.js';
import type { RuntimeParams } from './human/plan.js';

/**
 * A train stage's model, ready to give class probabilities: its exported model.onnx on onnxruntime (the whole
 * model, backbone included for a transfer model), or its tfjs files where onnxruntime is not wanted or not here.
 * `prepare` makes a batch of decoded images into what `run` takes, exactly as training fed them.
 */
export interface TrainedModelRunner {
  readonly stage: string;
  readonly metadata: ModelMetadata;
  /** "onnxruntime-node 1.30.0 cpu" or "tfjs <backend>": runtimes round differently, so it keys memos. */
  readonly runtime: string;
  /** Why the model is not on onnxruntime, where it is not. */
  readonly passedOver?: string;
  /** The model's input for these images: [n, …] in NHWC. */
  prepare(images: readonly FaceImage[]): Promise<{ x: Float32Array; dims: number[] }>;
  /** Probabilities, n × classes. */
  run(x: Float32Array, dims: readonly number[]): Promise<Float32Array>;
  dispose(): void;
}

const raster = (image: FaceImage): Raster => ({
  width: image.width,
  height: image.height,
  channels: image.channels,
  data: image.pixels,
});

/** The paper CNN's input: training's own `modelPixels` per image. */
function paperCnnInput(meta: ModelMetadata, images: readonly FaceImage[]) {
  const spec = { inputSize: meta.inputSize as number, channels: meta.channels as 1 | 3 };
  const size = spec.inputSize * spec.inputSize * spec.channels;
  const x = new Float32Array(images.length * size);
  images.forEach((image, i) => x.set(modelPixels(raster(image), spec), i * size));
  return { x, dims: [images.length, spec.inputSize, spec.inputSize, spec.channels] };
}

/** A transfer model.onnx's input: the backbone's crop of the RGB image at 0..1 (docs/onnx-export.md). */
function transferCrop(name: BackboneName, images: readonly FaceImage[]) {
  const batch = tf.tidy(() =>
    tf.concat(
      images.map((image) => {
        const rgb = toChannels(raster(image), 3);
        const unit = tf.div<tf.Tensor4D>(tf.tensor4d(Float32Array.from(rgb.data), [1, rgb.height, rgb.width, 3]), 255);
        return backboneCrop(name, unit);
      }),
      0,
    ),
  );
  try {
    return { x: batch.dataSync() as Float32Array, dims: [...batch.shape] };
  } finally {
    batch.dispose();
  }
}

export async function loadTrainedRunner(
  view: InputView,
  runtime: RuntimeParams,
  sharing = 1,
): Promise<TrainedModelRunner> {
  const metadata = modelMetadata(view);
  // modelMetadata gives every transfer model its backbone; a paper CNN has none and never reads it.
  const backbone = metadata.backbone as BackboneName;
  let passedOver: string | undefined;
  if (runtime.provider !== 'tfjs') {
    const loaded = await loadOnnxRuntime();
    if ('reason' in loaded) {
      if (runtime.provider !== 'cpu')
        throw new ProviderUnavailableError(
          `runtime: { provider: ${runtime.provider} } cannot be used here: ${loaded.reason}`,
        );
      passedOver = loaded.reason;
    } else {
      const provider = runtime.provider;
      const model: OnnxModel = await openOnnxModel(trainedOnnxModel(view), {
        provider,
        threads: runtime.threads,
        sharing,
      });
      return {
        stage: view.name,
        metadata,
        runtime: `onnxruntime-node ${loaded.version} ${provider}`,
        prepare: async (images) =>
          metadata.arch === 'paper-cnn' ? paperCnnInput(metadata, images) : transferCrop(backbone, images),
        run: async (x, dims) => (await model.run(x, dims))[0]!.data,
        dispose: () => void model.release(),
      };
    }
  }
  const layers: LayersModel = await loadTrainedModel(view);
  const graph =
    metadata.arch === 'transfer' ? graphModelInference(backbone, await loadHumanModel(backbone)) : undefined;
  return {
    stage: view.name,
    metadata,
    runtime: `tfjs ${tf.getBackend()}`,
    ...(passedOver ? { passedOver } : {}),
    async prepare(images) {
      if (!graph) return paperCnnInput(metadata, images);
      const features = await extractFeatures(graph, backbone, images);
      const size = features[0]?.length ?? 0;
      const x = new Float32Array(images.length * size);
      features.forEach((f, i) => x.set(f, i * size));
      return { x, dims: [images.length, size] };
    },
    run: async (x, dims) =>
      tf.tidy(() => (layers.predict(tf.tensor(x, [...dims])) as tf.Tensor).dataSync() as Float32Array),
    dispose() {
      layers.dispose();
      graph?.dispose();
    },
  };
}
