import { OnnxGraph, type Attribute } from './graph.js';
import { fuseClipChains } from './fuse-clips.js';
import { commuteAffineMaxPool } from './commute-affine.js';
import { decodeGraphWeights, type TfjsGraphJson } from './tfjs-weights.js';
import { SHAPE_HANDLERS } from './tfjs-shape-ops.js';
import {
  binary,
  constantOf,
  dataInputs,
  decode,
  ints,
  isFourD,
  needConstant,
  produce,
  strings,
  tensorKey,
  unary,
  UnsupportedModelError,
  value,
  type ConvertContext,
  type TfNode,
} from './convert-context.js';

export { UnsupportedModelError } from './convert-context.js';

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

/**
 * tfjs graph model (TensorFlow ops, NHWC) → ONNX (opset 17), for the ops the human-models fer-dag uses contain.
 * Convolutions and poolings run in ONNX's NCHW: each is wrapped in a Transpose pair and onnxruntime's
 * transpose optimiser cancels the pairs between neighbours, so the written graph stays a literal, checkable
 * translation of the TensorFlow one. Outputs are named as tfjs names them (the signature's keys, or the
 * nodes nothing consumes), so code that asks tfjs for `age_output` asks the ONNX model the same. With
 * `rewrite`, a few exact rewrites come on top, for onnxruntime's speed: ReLU6 as one Clip (fuse-clips.ts),
 * batch norms after a ReLU moved past the MaxPool that follows (commute-affine.ts). They change no number
 * (test/onnx-runtime.test.ts), only the time: gear 1.2× and faceres 1.5× faster on one thread.
 */

/**
 * Bumped whenever the literal translation could come out different: it keys the memoised conversions and
 * versions the export of trained models (ml/training/export-version.ts).
 */
export const CONVERTER_VERSION = '2';
/** Bumped whenever the rewrites for speed change: it keys the memoised conversions of human's models. */
export const REWRITES_VERSION = '1';

export interface ConvertedModel {
  bytes: Uint8Array;
  inputName: string;
  outputNames: string[];
}

/**
 * Writes the graph model into `g` (whose other nodes may feed or follow it): returns its input's and its
 * outputs' value names, the outputs keyed by their tfjs names. Every value it adds is named after a tfjs
 * node, made unique within `g`. The export of trained models leaves `rewrite` off, so its files stay
 * as they were.
 */
export function convertTfjsGraphInto(
  g: OnnxGraph,
  name: string,
  json: TfjsGraphJson,
  weights: Uint8Array,
  rewrite = false,
): { input: string; outputs: Map<string, string> } {
  const topology = json.modelTopology as { node?: TfNode[]; library?: { function?: unknown[] } };
  if (topology.library?.function?.length) throw new UnsupportedModelError(`${name}: graph functions (control flow)`);
  const unsupported = [...new Set((topology.node ?? []).map((n) => n.op).filter((op) => !(op in HANDLERS)))];
  if (unsupported.length) throw new UnsupportedModelError(`${name}: ops not converted: ${unsupported.join(', ')}`);
  const constants = decodeGraphWeights(json, weights);
  const outputNodes = new Set(graphOutputs(json, topology.node ?? []).map(([, t]) => t.split(':')[0]!));
  const nodes = rewrite ? commuteAffineMaxPool(topology.node ?? [], constants, outputNodes) : (topology.node ?? []);
  const inputsBefore = g.inputs.length;
  const values = new Map<string, string>(); // tf tensor "node:k" → ONNX name
  const node = undefined as unknown as TfNode;
  const ctx: ConvertContext = { g, node, constants, values, fourD: new Set(), name, rewrite };
  for (const node of nodes) {
    ctx.node = node;
    HANDLERS[node.op]!(ctx);
  }
  const added = g.inputs.slice(inputsBefore);
  if (added.length !== 1) throw new UnsupportedModelError(`${name}: ${added.length} Placeholders, expected one`);
  const outputs = new Map<string, string>();
  for (const [key, tensor] of graphOutputs(json, nodes)) {
    const value = values.get(tensorKey(tensor));
    if (!value) throw new UnsupportedModelError(`${name}: output ${tensor} was not produced`);
    outputs.set(key, value);
  }
  return { input: added[0]!.name, outputs };
}

/**
 * The graph model as an ONNX model of its own, its outputs named as tfjs names them; `rewrite` (the default;
 * off only to test that they change no number): exact rewrites that onnxruntime runs faster.
 */
export function convertTfjsGraph(
  name: string,
  json: TfjsGraphJson,
  weights: Uint8Array,
  rewrite = true,
): ConvertedModel {
  const g = new OnnxGraph();
  const keys = graphOutputs(json, (json.modelTopology as { node?: TfNode[] }).node ?? []).map(([key]) => key);
  for (const key of keys) g.reserve(key);
  const { input, outputs } = convertTfjsGraphInto(g, name, json, weights, rewrite);
  for (const [key, value] of outputs) {
    // An output keeps its tfjs name: an Identity gives the graph's value that name.
    g.nodes.push({ op: 'Identity', inputs: [value], outputs: [key], attributes: {} });
    g.output(key);
  }
  if (rewrite) fuseClipChains(g);
  const bytes = g.encode(name, { source: `tfjs graph model ${name}`, converter: CONVERTER_VERSION });
  return { bytes, inputName: input, outputNames: keys };
}

/** tfjs's outputs: the signature's (artifacts' or userDefinedMetadata's), else every node nothing consumes. */
function graphOutputs(json: TfjsGraphJson, nodes: TfNode[]): Array<[string, string]> {
  const signature = (json.signature ?? json.userDefinedMetadata?.signature) as
    { outputs?: Record<string, { name: string }> } | undefined;
  if (signature?.outputs && Object.keys(signature.outputs).length)
    return Object.entries(signature.outputs).map(([key, out]) => [key, out.name]);
  const consumed = new Set(nodes.flatMap((n) => (n.input ?? []).map((i) => i.replace(/^\^/, '').split(':')[0])));
  return nodes.filter((n) => !consumed.has(n.name) && n.op !== 'Const').map((n) => [n.name, n.name]);
}

/**
 * Minimum/Maximum against a constant scalar as a Clip (so fuse-clips.ts can merge Keras' ReLU6 into one
 * activation onnxruntime fuses); the elementwise Min/Max otherwise.
 */
function bound(which: 'min' | 'max', elementwise: 'Min' | 'Max') {
  return (ctx: ConvertContext) => {
    const [a, b] = dataInputs(ctx);
    const scalar = [b!, a!].find((i) => constantOf(ctx, i)?.values.length === 1 && !ctx.values.has(tensorKey(i)));
    if (!ctx.rewrite || !scalar || constantOf(ctx, scalar)!.dtype !== 'float32') return binary(elementwise)(ctx);
    const input = scalar === b ? a! : b!;
    const [x, limit] = [value(ctx, input), value(ctx, scalar)];
    produce(ctx, ctx.g.op('Clip', which === 'min' ? [x, limit] : [x, '', limit], ctx.node.name), isFourD(ctx, input));
  };
}

/** TF's SAME pads the extra pixel at the end, as ONNX's SAME_UPPER does. */
function padding(ctx: ConvertContext): Record<string, Attribute> {
  const mode = decode(ctx.node.attr?.padding?.s);
  if (mode === 'SAME') return { auto_pad: { string: 'SAME_UPPER' } };
  if (mode === 'VALID') return { auto_pad: { string: 'VALID' } };
  if (mode === 'EXPLICIT') {
    const p = ints(ctx.node.attr?.explicit_paddings); // NHWC pairs
    return { pads: { ints: [p[2]!, p[4]!, p[3]!, p[5]!] } };
  }
  throw new UnsupportedModelError(`${ctx.name}: ${ctx.node.name} has padding ${mode}`);
}

function spatial(ctx: ConvertContext, attr: string): number[] {
  const v = ints(ctx.node.attr?.[attr]);
  return v.length === 4 ? [v[1]!, v[2]!] : [1, 1];
}

function checkNhwc(ctx: ConvertContext): void {
  const format = decode(ctx.node.attr?.data_format?.s);
  if (format && format !== 'NHWC') throw new UnsupportedModelError(`${ctx.name}: ${ctx.node.name} is ${format}`);
}

/** x (NHWC) → op in NCHW → NHWC. */
function inNchw(ctx: ConvertContext, x: string, build: (nchw: string) => string): string {
  const g = ctx.g;
  const nchw = g.op('Transpose', [x], `${ctx.node.name}/nchw`, { perm: { ints: TO_NCHW } });
  return g.op('Transpose', [build(nchw)], `${ctx.node.name}/nhwc`, { perm: { ints: TO_NHWC } });
}

/** Conv2D (filter HWIO) and DepthwiseConv2dNative (filter HWCM) as an ONNX Conv with OIHW weights. */
function convolution(ctx: ConvertContext, depthwise: boolean, fused: string[]): string {
  checkNhwc(ctx);
  const [x, filterInput, ...args] = dataInputs(ctx);
  const f = needConstant(ctx, filterInput!, 'filter');
  const [kh, kw, cin, cout] = f.shape as [number, number, number, number];
  const outChannels = depthwise ? cin * cout : cout;
  const w = new Float32Array(outChannels * (depthwise ? 1 : cin) * kh * kw);
  for (let y = 0; y < kh; y++)
    for (let xx = 0; xx < kw; xx++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) {
          const from = ((y * kw + xx) * cin + i) * cout + o;
          const to = depthwise ? ((i * cout + o) * kh + y) * kw + xx : ((o * cin + i) * kh + y) * kw + xx;
          w[to] = f.values[from] as number;
        }
  const inputs = [ctx.g.constant(`${ctx.node.name}/weights`, w, [outChannels, depthwise ? 1 : cin, kh, kw])];
  if (fused[0] === 'BiasAdd') inputs.push(value(ctx, args[0]!));
  const attributes: Record<string, Attribute> = {
    ...padding(ctx),
    kernel_shape: { ints: [kh, kw] },
    strides: { ints: spatial(ctx, 'strides') },
    dilations: { ints: spatial(ctx, 'dilations') },
    ...(depthwise ? { group: { int: cin } } : {}),
  };
  return inNchw(ctx, value(ctx, x!), (nchw) => {
    const conv = ctx.g.op('Conv', [nchw, ...inputs], ctx.node.name, attributes);
    return activation(ctx, conv, fused.slice(fused[0] === 'BiasAdd' ? 1 : 0), args.slice(1), true);
  });
}

/** A fused activation after a conv (in NCHW: per-channel parameters are reshaped to [C, 1, 1]) or a matmul. */
function activation(ctx: ConvertContext, x: string, ops: string[], args: string[], nchw: boolean): string {
  const g = ctx.g;
  const hint = `${ctx.node.name}/act`;
  if (ops.length === 0) return x;
  if (ops.length > 1) throw new UnsupportedModelError(`${ctx.name}: ${ctx.node.name} fuses ${ops.join(', ')}`);
  switch (ops[0]) {
    case 'Relu':
      return g.op('Relu', [x], hint);
    case 'Relu6':
      return g.op(
        'Clip',
        [x, g.constant('zero', new Float32Array([0]), []), g.constant('six', new Float32Array([6]), [])],
        hint,
      );
    case 'Elu':
      return g.op('Elu', [x], hint);
    case 'Sigmoid':
      return g.op('Sigmoid', [x], hint);
    case 'LeakyRelu':
      return g.op('LeakyRelu', [x], hint, { alpha: { float: ctx.node.attr?.leakyrelu_alpha?.f ?? 0.2 } });
    case 'Prelu': {
      const alpha = needConstant(ctx, args[0]!, 'PReLU slope');
      const dims = nchw ? [alpha.values.length, 1, 1] : [alpha.values.length];
      return g.op('PRelu', [x, g.constant(`${ctx.node.name}/alpha`, alpha.values as Float32Array, dims)], hint);
    }
    default:
      throw new UnsupportedModelError(`${ctx.name}: ${ctx.node.name} fuses ${ops[0]}`);
  }
}

function pool(op: 'MaxPool' | 'AveragePool') {
  return (ctx: ConvertContext) => {
    checkNhwc(ctx);
    const attributes = {
      ...padding(ctx),
      kernel_shape: { ints: spatial(ctx, 'ksize') },
      strides: { ints: spatial(ctx, 'strides') },
    };
    produce(
      ctx,
      inNchw(ctx, value(ctx, dataInputs(ctx)[0]!), (x) => ctx.g.op(op, [x], ctx.node.name, attributes)),
    );
  };
}

function matmul(ctx: ConvertContext, fused: string[]): string {
  const [a, b, ...args] = dataInputs(ctx);
  const attr = ctx.node.attr ?? {};
  const transpose = (x: string, yes: boolean | undefined) =>
    yes ? ctx.g.op('Transpose', [x], `${ctx.node.name}/t`, { perm: { ints: [1, 0] } }) : x;
  let y = ctx.g.op(
    'MatMul',
    [transpose(value(ctx, a!), attr.transpose_a?.b), transpose(value(ctx, b!), attr.transpose_b?.b)],
    ctx.node.name,
  );
  if (fused[0] === 'BiasAdd') y = ctx.g.op('Add', [y, value(ctx, args[0]!)], `${ctx.node.name}/bias`);
  return activation(ctx, y, fused.slice(fused[0] === 'BiasAdd' ? 1 : 0), args.slice(1), false);
}

const HANDLERS: Record<string, (ctx: ConvertContext) => void> = {
  Const: () => undefined, // written where used, in the layout that use needs
  Placeholder(ctx) {
    const dims = (ctx.node.attr?.shape?.shape?.dim ?? []).map((d) => (Number(d.size) > 0 ? Number(d.size) : 'batch'));
    produce(ctx, ctx.g.input(ctx.node.name, dims), dims.length === 4);
  },
  Identity(ctx) {
    const x = dataInputs(ctx)[0]!;
    produce(ctx, value(ctx, x), isFourD(ctx, x));
  },
  Conv2D: (ctx) => produce(ctx, convolution(ctx, false, []), true),
  DepthwiseConv2dNative: (ctx) => produce(ctx, convolution(ctx, true, []), true),
  _FusedConv2D: (ctx) => produce(ctx, convolution(ctx, false, strings(ctx.node.attr?.fused_ops)), true),
  FusedDepthwiseConv2dNative: (ctx) => produce(ctx, convolution(ctx, true, strings(ctx.node.attr?.fused_ops)), true),
  MatMul: (ctx) => produce(ctx, matmul(ctx, [])),
  _FusedMatMul: (ctx) => produce(ctx, matmul(ctx, strings(ctx.node.attr?.fused_ops))),
  MaxPool: pool('MaxPool'),
  AvgPool: pool('AveragePool'),
  Add: binary('Add'),
  AddV2: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  RealDiv: binary('Div'),
  Minimum: bound('max', 'Min'),
  Maximum: bound('min', 'Max'),
  Relu: unary('Relu'),
  Sigmoid: unary('Sigmoid'),
  Tanh: unary('Tanh'),
  Softmax: unary('Softmax', { axis: { int: -1 } }),
  ...SHAPE_HANDLERS,
};

/** The ops the converter handles, for the docs and the fallback's message. */
export const CONVERTED_OPS = Object.keys(HANDLERS).sort();
