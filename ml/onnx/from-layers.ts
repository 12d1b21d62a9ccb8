import type { LayersModel } from '@tensorflow/tfjs-layers';
import { OnnxGraph } from './graph.js';

/**
 * fer-dag's trained tfjs-layers models → ONNX, for the layers its two architectures are made of
 * (ml/architectures/paper-cnn.ts, ml/training/model-spec.ts) and nothing else: a layer outside that list is
 * an error naming it, never a silently different model. Image tensors run in ONNX's NCHW from the input to
 * the Flatten, which transposes back to NHWC first so the flattened order is the one tfjs' Dense weights
 * were trained on.
 */

export class UnsupportedLayerError extends Error {}

/** The layer classes exported, as `getClassName()` names them (FastBatchNorm, FastDropout: as the stock ones). */
export const EXPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'BatchNormalization',
  'Activation',
  'MaxPooling2D',
  'Dropout',
  'Flatten',
  'Dense',
] as const;

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

/** A value between layers: image tensors are NCHW inside the graph; `flat` is [batch, features]. */
interface Flow {
  value: string;
  layout: 'nchw' | 'flat';
}

/** The slice of a tfjs layer the exporter reads. */
interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  readonly weights: ReadonlyArray<{ name: string }>;
  getWeights(): Array<{ shape: number[]; dataSync(): ArrayLike<number> }>;
}

/**
 * A layer's weights by their short names (`kernel`, `bias`, `gamma`, `moving_mean`, …), copied out of tfjs.
 * tfjs suffixes a variable name already taken in the process (`kernel_1` when a model is loaded twice).
 */
function weightsOf(layer: LayerLike): Map<string, { shape: number[]; values: Float32Array }> {
  const tensors = layer.getWeights();
  return new Map(
    layer.weights.map((w, i) => [
      w.name.split('/').at(-1)!.replace(/_\d+$/, ''),
      { shape: tensors[i]!.shape, values: Float32Array.from(tensors[i]!.dataSync()) },
    ]),
  );
}

function need<T>(map: Map<string, T>, key: string, layer: LayerLike): T {
  const found = map.get(key);
  if (!found) throw new UnsupportedLayerError(`layer "${layer.name}" (${layer.getClassName()}) has no ${key} weight`);
  return found;
}

function requireChannelsLast(layer: LayerLike): void {
  const format = layer.getConfig().dataFormat;
  if (format !== undefined && format !== 'channelsLast')
    throw new UnsupportedLayerError(`layer "${layer.name}" (${layer.getClassName()}) is ${String(format)}`);
}

/** 'same' pads the extra pixel at the end in TensorFlow, as ONNX's SAME_UPPER does. */
function autoPad(layer: LayerLike): { auto_pad: { string: string } } {
  const padding = layer.getConfig().padding;
  if (padding === 'same') return { auto_pad: { string: 'SAME_UPPER' } };
  if (padding === 'valid') return { auto_pad: { string: 'VALID' } };
  throw new UnsupportedLayerError(`layer "${layer.name}" (${layer.getClassName()}) has padding ${String(padding)}`);
}

const pair = (v: unknown): number[] => (Array.isArray(v) ? v.map(Number) : [Number(v), Number(v)]);

/** An activation by its tfjs name; softmax over the channels, which are axis 1 in both layouts here. */
function activate(g: OnnxGraph, flow: Flow, activation: unknown, layer: LayerLike): Flow {
  const hint = `${layer.name}/${String(activation)}`;
  switch (activation ?? 'linear') {
    case 'linear':
      return flow;
    case 'relu':
      return { ...flow, value: g.op('Relu', [flow.value], hint) };
    case 'softmax':
      return { ...flow, value: g.op('Softmax', [flow.value], hint, { axis: { int: 1 } }) };
    default:
      throw new UnsupportedLayerError(
        `layer "${layer.name}" (${layer.getClassName()}) has activation ${String(activation)}; ` +
          'exported: linear, relu, softmax',
      );
  }
}

function conv2d(g: OnnxGraph, flow: Flow, layer: LayerLike): Flow {
  requireChannelsLast(layer);
  if (flow.layout !== 'nchw') throw new UnsupportedLayerError(`layer "${layer.name}" (Conv2D) on a flat tensor`);
  const config = layer.getConfig();
  const weights = weightsOf(layer);
  const kernel = need(weights, 'kernel', layer);
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  // tfjs HWIO → ONNX OIHW.
  const oihw = new Float32Array(kernel.values.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          oihw[((o * cin + i) * kh + y) * kw + x] = kernel.values[((y * kw + x) * cin + i) * cout + o]!;
  const inputs = [flow.value, g.constant(`${layer.name}/kernel`, oihw, [cout, cin, kh, kw])];
  const bias = weights.get('bias');
  if (bias) inputs.push(g.constant(`${layer.name}/bias`, bias.values, [cout]));
  const value = g.op('Conv', inputs, layer.name, {
    ...autoPad(layer),
    kernel_shape: { ints: [kh, kw] },
    strides: { ints: pair(config.strides ?? 1) },
    dilations: { ints: pair(config.dilationRate ?? 1) },
  });
  return activate(g, { value, layout: 'nchw' }, config.activation, layer);
}

/**
 * Inference-mode batch normalisation with the moving statistics, as ONNX's own BatchNormalization (channel
 * axis 1 in NCHW and in [batch, features] alike): onnxruntime folds it into a preceding Conv, and the
 * arithmetic is tfjs' (x − mean) / √(variance + ε) · γ + β with the layer's own ε.
 */
function batchNorm(g: OnnxGraph, flow: Flow, layer: LayerLike): Flow {
  const config = layer.getConfig();
  const axis = Number(config.axis ?? -1);
  if (axis !== -1 && axis !== (flow.layout === 'nchw' ? 3 : 1))
    throw new UnsupportedLayerError(`layer "${layer.name}" (BatchNormalization) normalises axis ${axis}, not channels`);
  const weights = weightsOf(layer);
  const mean = need(weights, 'moving_mean', layer).values;
  const variance = need(weights, 'moving_variance', layer).values;
  const channels = mean.length;
  const gamma = weights.get('gamma')?.values ?? new Float32Array(channels).fill(1);
  const beta = weights.get('beta')?.values ?? new Float32Array(channels);
  const constant = (key: string, values: Float32Array) => g.constant(`${layer.name}/${key}`, values, [channels]);
  const value = g.op(
    'BatchNormalization',
    [flow.value, constant('gamma', gamma), constant('beta', beta), constant('mean', mean), constant('var', variance)],
    layer.name,
    { epsilon: { float: Number(config.epsilon ?? 1e-3) } },
  );
  return { ...flow, value };
}

function maxPool(g: OnnxGraph, flow: Flow, layer: LayerLike): Flow {
  requireChannelsLast(layer);
  if (flow.layout !== 'nchw') throw new UnsupportedLayerError(`layer "${layer.name}" (MaxPooling2D) on a flat tensor`);
  const config = layer.getConfig();
  const size = pair(config.poolSize ?? 2);
  const value = g.op('MaxPool', [flow.value], layer.name, {
    ...autoPad(layer),
    kernel_shape: { ints: size },
    strides: { ints: pair(config.strides ?? size) },
  });
  return { value, layout: 'nchw' };
}

/** Back to NHWC before flattening: tfjs' Dense after Flatten expects rows, then columns, then channels. */
function flatten(g: OnnxGraph, flow: Flow, layer: LayerLike): Flow {
  if (flow.layout === 'flat') return flow;
  const nhwc = g.op('Transpose', [flow.value], `${layer.name}/nhwc`, { perm: { ints: TO_NHWC } });
  return { value: g.op('Flatten', [nhwc], layer.name, { axis: { int: 1 } }), layout: 'flat' };
}

function dense(g: OnnxGraph, flow: Flow, layer: LayerLike): Flow {
  if (flow.layout !== 'flat') throw new UnsupportedLayerError(`layer "${layer.name}" (Dense) on an image tensor`);
  const weights = weightsOf(layer);
  const kernel = need(weights, 'kernel', layer);
  const inputs = [flow.value, g.constant(`${layer.name}/kernel`, kernel.values, kernel.shape)];
  const bias = weights.get('bias');
  if (bias) inputs.push(g.constant(`${layer.name}/bias`, bias.values, bias.shape));
  const value = g.op('Gemm', inputs, layer.name);
  return activate(g, { value, layout: 'flat' }, layer.getConfig().activation, layer);
}

const HANDLERS: Record<(typeof EXPORTED_LAYERS)[number], (g: OnnxGraph, flow: Flow, layer: LayerLike) => Flow> = {
  InputLayer: (_g, flow) => flow,
  Conv2D: conv2d,
  BatchNormalization: batchNorm,
  Activation: (g, flow, layer) => activate(g, flow, layer.getConfig().activation, layer),
  MaxPooling2D: maxPool,
  Dropout: (_g, flow) => flow, // identity at inference
  Flatten: flatten,
  Dense: dense,
};

/**
 * Appends `model`'s layers to `g`, reading from `input` (NHWC images or [batch, features], as the model
 * takes them), and returns the value of its output (NHWC again if it ends on an image tensor). Every layer
 * is checked before anything is written, so an unsupported model leaves `g` as it was.
 */
export function layersInto(g: OnnxGraph, model: LayersModel, input: string): string {
  const layers = model.layers as unknown as LayerLike[];
  for (const layer of layers) {
    const type = layer.getClassName();
    if (!(type in HANDLERS))
      throw new UnsupportedLayerError(
        `layer "${layer.name}" (${type}) cannot be exported to ONNX; exported layers: ${EXPORTED_LAYERS.join(', ')}`,
      );
  }
  const rank = model.inputs[0]?.shape.length;
  if (model.inputs.length !== 1 || (rank !== 4 && rank !== 2))
    throw new UnsupportedLayerError(`model "${model.name}": one NHWC image or feature-vector input is exported`);
  let flow: Flow =
    rank === 4
      ? { value: g.op('Transpose', [input], `${model.name}/nchw`, { perm: { ints: TO_NCHW } }), layout: 'nchw' }
      : { value: input, layout: 'flat' };
  for (const layer of layers) flow = HANDLERS[layer.getClassName() as keyof typeof HANDLERS](g, flow, layer);
  if (flow.layout === 'nchw') return g.op('Transpose', [flow.value], `${model.name}/nhwc`, { perm: { ints: TO_NHWC } });
  return flow.value;
}

/** The input's dims as ONNX declares them: the batch is symbolic. */
export function inputDims(model: LayersModel): Array<number | string> {
  return (model.inputs[0]?.shape ?? []).map((d) => d ?? 'batch');
}

/** A layers model on its own as ONNX: input `input` as the model takes it, output `probabilities`. */
export function exportLayersModel(model: LayersModel, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const g = new OnnxGraph();
  g.reserve('probabilities');
  const output = layersInto(g, model, g.input('input', inputDims(model)));
  g.nodes.push({ op: 'Identity', inputs: [output], outputs: ['probabilities'], attributes: {} });
  g.output('probabilities');
  return g.encode(model.name, metadata);
}
