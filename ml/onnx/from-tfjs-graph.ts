import { int64s, OnnxGraph, type Attribute } from './graph.js';
import { decodeGraphWeights, type GraphConstant, type TfjsGraphJson } from './tfjs-weights.js';

/**
 * tfjs graph model (TensorFlow ops, NHWC) → ONNX (opset 17), for the ops the human-models fer-dag uses contain.
 * Convolutions and poolings run in ONNX's NCHW: each is wrapped in a Transpose pair and onnxruntime's
 * transpose optimiser cancels the pairs between neighbours, so the written graph stays a literal, checkable
 * translation of the TensorFlow one. Outputs are named as tfjs names them (the signature's keys, or the
 * nodes nothing consumes), so code that asks tfjs for `age_output` asks the ONNX model the same.
 */

/** Bumped whenever a conversion could come out different: it keys the memoised conversions. */
export const CONVERTER_VERSION = '2';

interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

interface TfAttr {
  i?: string;
  f?: number;
  b?: boolean;
  s?: string;
  list?: { i?: string[]; s?: string[] };
  shape?: { dim?: Array<{ size: string }> };
}

export class UnsupportedModelError extends Error {}

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
const INT64_MAX = 2 ** 62; // ONNX Slice clamps; any bound past the dimension works

const decode = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));
const ints = (a: TfAttr | undefined): number[] => (a?.list?.i ?? []).map(Number);
const strings = (a: TfAttr | undefined): string[] => (a?.list?.s ?? []).map(decode);

export interface ConvertedModel {
  bytes: Uint8Array;
  inputName: string;
  outputNames: string[];
}

/**
 * Writes the graph model into `g` (whose other nodes may feed or follow it): returns its input's and its
 * outputs' value names, the outputs keyed by their tfjs names. Every value it adds is named after a tfjs
 * node, made unique within `g`.
 */
export function convertTfjsGraphInto(
  g: OnnxGraph,
  name: string,
  json: TfjsGraphJson,
  weights: Uint8Array,
): { input: string; outputs: Map<string, string> } {
  const topology = json.modelTopology as { node?: TfNode[]; library?: { function?: unknown[] } };
  if (topology.library?.function?.length) throw new UnsupportedModelError(`${name}: graph functions (control flow)`);
  const nodes = topology.node ?? [];
  const unsupported = [...new Set(nodes.map((n) => n.op).filter((op) => !(op in HANDLERS)))];
  if (unsupported.length) throw new UnsupportedModelError(`${name}: ops not converted: ${unsupported.join(', ')}`);
  const constants = decodeGraphWeights(json, weights);
  const inputsBefore = g.inputs.length;
  const values = new Map<string, string>(); // tf tensor "node:k" → ONNX name
  const ctx: ConvertContext = { g, node: undefined as unknown as TfNode, constants, values, fourD: new Set(), name };
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

/** The graph model as an ONNX model of its own, its outputs named as tfjs names them. */
export function convertTfjsGraph(name: string, json: TfjsGraphJson, weights: Uint8Array): ConvertedModel {
  const g = new OnnxGraph();
  const keys = graphOutputs(json, (json.modelTopology as { node?: TfNode[] }).node ?? []).map(([key]) => key);
  for (const key of keys) g.reserve(key);
  const { input, outputs } = convertTfjsGraphInto(g, name, json, weights);
  for (const [key, value] of outputs) {
    // An output keeps its tfjs name: an Identity gives the graph's value that name.
    g.nodes.push({ op: 'Identity', inputs: [value], outputs: [key], attributes: {} });
    g.output(key);
  }
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

/** "node", "node:0" → "node:0". */
const tensorKey = (name: string): string => (name.includes(':') ? name : `${name}:0`);

interface ConvertContext {
  g: OnnxGraph;
  node: TfNode;
  constants: Map<string, GraphConstant>;
  values: Map<string, string>;
  /** tf tensors known to be 4-D NHWC (an input image, what convolutions and poolings give). */
  fourD: Set<string>;
  name: string;
}

function dataInputs(ctx: ConvertContext): string[] {
  return (ctx.node.input ?? []).filter((i) => !i.startsWith('^'));
}

function constantOf(ctx: ConvertContext, input: string): GraphConstant | undefined {
  return ctx.constants.get(input.split(':')[0]!);
}

function needConstant(ctx: ConvertContext, input: string, role: string): GraphConstant {
  const c = constantOf(ctx, input);
  if (!c) throw new UnsupportedModelError(`${ctx.name}: ${ctx.node.op} ${ctx.node.name} has a computed ${role}`);
  return c;
}

/** The ONNX value of a tf input: a produced value, or a constant written as an initializer on first use. */
function value(ctx: ConvertContext, input: string): string {
  const known = ctx.values.get(tensorKey(input));
  if (known) return known;
  const c = needConstant(ctx, input, 'input');
  const name = ctx.g.constant(input.split(':')[0]!, c.dtype === 'float32' ? c.values : c.values, c.shape);
  ctx.values.set(tensorKey(input), name);
  return name;
}

function produce(ctx: ConvertContext, onnxName: string, fourD = false): void {
  ctx.values.set(`${ctx.node.name}:0`, onnxName);
  if (fourD) ctx.fourD.add(`${ctx.node.name}:0`);
}

const isFourD = (ctx: ConvertContext, input: string): boolean => ctx.fourD.has(tensorKey(input));

function unary(op: string, attributes: Record<string, Attribute> = {}) {
  return (ctx: ConvertContext) =>
    produce(ctx, ctx.g.op(op, [value(ctx, dataInputs(ctx)[0]!)], ctx.node.name, attributes));
}

function binary(op: string) {
  return (ctx: ConvertContext) => {
    const [a, b] = dataInputs(ctx);
    produce(ctx, ctx.g.op(op, [value(ctx, a!), value(ctx, b!)], ctx.node.name));
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

function reduce(op: 'ReduceMean' | 'ReduceMax') {
  return (ctx: ConvertContext) => {
    const [x, axesInput] = dataInputs(ctx);
    const axes = Array.from(needConstant(ctx, axesInput!, 'axes').values);
    const keepdims = (ctx.node.attr?.keep_dims?.b ?? ctx.node.attr?.keepdims?.b) ? 1 : 0;
    produce(ctx, ctx.g.op(op, [value(ctx, x!)], ctx.node.name, { axes: { ints: axes }, keepdims: { int: keepdims } }));
  };
}

function stridedSlice(ctx: ConvertContext): void {
  const [x, b, e, s] = dataInputs(ctx);
  const attr = ctx.node.attr ?? {};
  const mask = (key: string) => Number(attr[key]?.i ?? 0);
  if (mask('ellipsis_mask') || mask('new_axis_mask'))
    throw new UnsupportedModelError(`${ctx.name}: ${ctx.node.name} uses ellipsis or new-axis masks`);
  const begin = Array.from(needConstant(ctx, b!, 'begin').values);
  const end = Array.from(needConstant(ctx, e!, 'end').values);
  const strides = Array.from(needConstant(ctx, s!, 'strides').values);
  const starts: number[] = [];
  const ends: number[] = [];
  const squeeze: number[] = [];
  begin.forEach((_, i) => {
    const step = strides[i]!;
    const bit = 1 << i;
    let start = mask('begin_mask') & bit ? (step > 0 ? 0 : -INT64_MAX) : begin[i]!;
    let stop = mask('end_mask') & bit ? (step > 0 ? INT64_MAX : -INT64_MAX) : end[i]!;
    if (mask('shrink_axis_mask') & bit) {
      start = begin[i]!;
      stop = start === -1 ? INT64_MAX : start + 1;
      squeeze.push(i);
    }
    starts.push(start);
    ends.push(stop);
  });
  const g = ctx.g;
  const axes = begin.map((_, i) => i);
  let y = g.op(
    'Slice',
    [
      value(ctx, x!),
      g.constant(`${ctx.node.name}/starts`, int64s(starts), [starts.length]),
      g.constant(`${ctx.node.name}/ends`, int64s(ends), [ends.length]),
      g.constant(`${ctx.node.name}/axes`, int64s(axes), [axes.length]),
      g.constant(`${ctx.node.name}/steps`, int64s(strides), [strides.length]),
    ],
    ctx.node.name,
  );
  if (squeeze.length)
    y = g.op(
      'Squeeze',
      [y, g.constant(`${ctx.node.name}/squeeze`, int64s(squeeze), [squeeze.length])],
      `${ctx.node.name}/sq`,
    );
  produce(ctx, y);
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
  Minimum: binary('Min'),
  Maximum: binary('Max'),
  Relu: unary('Relu'),
  Sigmoid: unary('Sigmoid'),
  Tanh: unary('Tanh'),
  Softmax: unary('Softmax', { axis: { int: -1 } }),
  Mean: reduce('ReduceMean'),
  Max: reduce('ReduceMax'),
  Reshape(ctx) {
    const [x, shape] = dataInputs(ctx);
    const dims = Array.from(needConstant(ctx, shape!, 'shape').values);
    const target = ctx.g.constant(`${ctx.node.name}/shape`, int64s(dims), [dims.length]);
    produce(ctx, ctx.g.op('Reshape', [value(ctx, x!), target], ctx.node.name));
  },
  ExpandDims(ctx) {
    const [x, axis] = dataInputs(ctx);
    const axes = Array.from(needConstant(ctx, axis!, 'axis').values);
    const target = ctx.g.constant(`${ctx.node.name}/axes`, int64s(axes), [axes.length]);
    produce(ctx, ctx.g.op('Unsqueeze', [value(ctx, x!), target], ctx.node.name));
  },
  Pad(ctx) {
    const [x, paddings] = dataInputs(ctx);
    const p = Array.from(needConstant(ctx, paddings!, 'paddings').values);
    const rank = p.length / 2;
    const pads = [
      ...Array.from({ length: rank }, (_, i) => p[2 * i]!),
      ...Array.from({ length: rank }, (_, i) => p[2 * i + 1]!),
    ];
    const target = ctx.g.constant(`${ctx.node.name}/pads`, int64s(pads), [pads.length]);
    produce(ctx, ctx.g.op('Pad', [value(ctx, x!), target], ctx.node.name));
  },
  StridedSlice: stridedSlice,
};

/** The ops the converter handles, for the docs and the fallback's message. */
export const CONVERTED_OPS = Object.keys(HANDLERS).sort();
