import type { ModelMetadata } from '../ml/model-files.js';
import type { Raster } from '../datasets/images/raster.js';
import { loadTrainedRunner } from '../ml/trained-runner.js';
import type { RuntimeParams } from '../ml/human/plan.js';
import type { InputView } from '../engine/stage.js';

/** A train stage's model, ready to label face crops. */
export interface FaceClassifier {
  readonly stage: string;
  readonly classes: readonly string[];
  readonly metadata: ModelMetadata;
  /** Where it runs ("onnxruntime-node 1.30.0 cpu", "tfjs wasm"), for the server's start-up line. */
  readonly runtime: string;
  /** Class probabilities per crop, in one batch per call. */
  classify(crops: readonly Raster[]): Promise<Float32Array[]>;
  dispose(): void;
}

/**
 * Loads the model of a train stage (its model.onnx, or its tfjs files on `provider: tfjs`) and prepares crops
 * the way training read its images: the paper CNN through the same `modelPixels` as PixelSource, a transfer
 * model through its backbone's crop (the backbone itself is inside model.onnx).
 */
export async function loadFaceClassifier(view: InputView, runtime: RuntimeParams): Promise<FaceClassifier> {
  const runner = await loadTrainedRunner(view, runtime);
  const { metadata } = runner;
  return {
    stage: view.name,
    classes: metadata.classes,
    metadata,
    runtime: runner.runtime,
    async classify(crops) {
      if (!crops.length) return [];
      const images = crops.map((c) => ({
        pixels: c.data,
        width: c.width,
        height: c.height,
        channels: c.channels as 1 | 3,
      }));
      const { x, dims } = await runner.prepare(images);
      const probabilities = await runner.run(x, dims);
      const classes = probabilities.length / crops.length;
      return crops.map((_, i) => probabilities.slice(i * classes, (i + 1) * classes));
    },
    dispose: () => runner.dispose(),
  };
}
