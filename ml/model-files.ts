import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { BackboneName } from './architectures/backbone.js';
import type { InputView, OutputWriter } from '../engine/stage.js';

const WEIGHTS_FILE = 'weights.bin';

/** tfjs' own type for the metadata a model carries (`{}` values: anything but null and undefined). */
type UserDefinedMetadata = NonNullable<tf.io.ModelArtifacts['userDefinedMetadata']>;

/** tfjs' model.json: the topology plus a manifest naming the weights file beside it. */
interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: unknown;
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  userDefinedMetadata?: UserDefinedMetadata;
}

/**
 * Saves a tfjs model into a stage's output tree as `<dir>/model.json` and `<dir>/weights.bin`, the layout
 * tfjs' own file handlers use, so an exported model also loads with `tf.loadLayersModel('file://…')`.
 * Nothing in it depends on time, so the same weights always give the same two blobs.
 */
export function storeSaveHandler(output: OutputWriter, dir: string, metadata?: UserDefinedMetadata): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (!artifacts.weightSpecs || !artifacts.weightData) throw new Error('a model without weights cannot be stored');
      const weights = new Uint8Array(tf.io.concatenateArrayBuffers([artifacts.weightData].flat()));
      const json: ModelJson = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_core}`,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs }],
        ...((metadata ?? artifacts.userDefinedMetadata)
          ? { userDefinedMetadata: { ...artifacts.userDefinedMetadata, ...metadata } }
          : {}),
      };
      output.writeFile(`${dir}/${WEIGHTS_FILE}`, weights);
      output.writeJson(`${dir}/model.json`, json);
      return {
        modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON({
          modelTopology: artifacts.modelTopology,
          weightSpecs: artifacts.weightSpecs,
          weightData: weights.buffer,
        }),
      };
    },
  };
}

/** Loads a model a stage stored with `storeSaveHandler`, from that stage's output as its consumer sees it. */
export function storeLoadHandler(view: InputView, dir: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const file = `${dir}/model.json`;
      if (!view.files[file]) throw new Error(`stage "${view.name}" has no model at ${file}: is it a train stage?`);
      const json = JSON.parse(view.readText(file)) as ModelJson;
      const buffers: ArrayBuffer[] = [];
      const specs: tf.io.WeightsManifestEntry[] = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) {
          const bytes = view.readFile(`${dir}/${p.replace(/^\.\//, '')}`);
          buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
        }
        specs.push(...group.weights);
      }
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: specs,
        weightData: tf.io.concatenateArrayBuffers(buffers),
        ...(json.format ? { format: json.format } : {}),
        ...(json.generatedBy ? { generatedBy: json.generatedBy } : {}),
        ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
      };
    },
  };
}

/** Where a train stage keeps its model in its output: `model/model.json` and `model/weights.bin`. */
export const TRAINED_MODEL_DIR = 'model';
const TRAINED_MODEL_JSON = `${TRAINED_MODEL_DIR}/model.json`;
/** The same model as ONNX, with its preprocessing in its metadata (ml/training/export-onnx.ts, docs/onnx-export.md). */
export const TRAINED_ONNX_FILE = `${TRAINED_MODEL_DIR}/model.onnx`;

/** What a train stage's model.json says about how its input was made (train writes it). */
export interface ModelMetadata {
  arch: 'paper-cnn' | 'transfer';
  inputSize?: number;
  channels?: 1 | 3;
  backbone?: BackboneName;
  classes: string[];
}

export function modelMetadata(view: InputView): ModelMetadata {
  if (!view.files[TRAINED_MODEL_JSON])
    throw new Error(`"${view.name}" has no ${TRAINED_MODEL_JSON}: models: must name train stages`);
  const json = JSON.parse(view.readText(TRAINED_MODEL_JSON)) as { userDefinedMetadata?: Partial<ModelMetadata> };
  const meta = json.userDefinedMetadata ?? {};
  if ((meta.arch !== 'paper-cnn' && meta.arch !== 'transfer') || !Array.isArray(meta.classes)) {
    throw new Error(`the model of "${view.name}" does not say how it was trained (arch, classes); rerun ${view.name}`);
  }
  // Transfer models trained before train recorded the backbone were all on mobileface, then the only one.
  if (meta.arch === 'transfer' && !meta.backbone) return { ...(meta as ModelMetadata), backbone: 'mobileface' };
  return meta as ModelMetadata;
}

/** A train stage's model, loaded from its output as its consumer sees it. */
export async function loadTrainedModel(view: InputView): Promise<LayersModel> {
  const tfl = await import('@tensorflow/tfjs-layers');
  return tfl.loadLayersModel(storeLoadHandler(view, TRAINED_MODEL_DIR));
}

/** A train stage's model.onnx, as its consumer sees it; a stage trained before the export has none. */
export function trainedOnnxModel(view: InputView): Uint8Array {
  if (view.files[TRAINED_ONNX_FILE]) return view.readFile(TRAINED_ONNX_FILE);
  if (view.files[TRAINED_MODEL_JSON])
    throw new Error(
      `"${view.name}" was trained before fer-dag exported ONNX models and has no ${TRAINED_ONNX_FILE}; ` +
        `rerun ${view.name}`,
    );
  throw new Error(`"${view.name}" has no ${TRAINED_ONNX_FILE}: models: must name train stages`);
}
