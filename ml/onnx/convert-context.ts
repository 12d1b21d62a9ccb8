import type { Attribute, OnnxGraph } from './graph.js';
import type { GraphConstant } from './tfjs-weights.js';

/** What the converter's op handlers share: the tfjs node being converted and the values made so far. */

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

export interface TfAttr {
  i?: string;
  f?: number;
  b?: boolean;
  s?: string;
  list?: { i?: string[]; s?: string[] };
  shape?: { dim?: Array<{ size: string }> };
}

export class UnsupportedModelError extends Error {}

export const decode = (s: string | undefined): string =>
  s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8');
export const ints = (a: TfAttr | undefined): number[] => (a?.list?.i ?? []).map(Number);
export const strings = (a: TfAttr | undefined): string[] => (a?.list?.s ?? []).map(decode);

/** "node", "node:0" → "node:0". */
export const tensorKey = (name: string): string => (name.includes(':') ? name : `${name}:0`);

export interface ConvertContext {
  g: OnnxGraph;
  node: TfNode;
  constants: Map<string, GraphConstant>;
  values: Map<string, string>;
  /** tf tensors known to be 4-D NHWC (an input image, what convolutions and poolings give). */
  fourD: Set<string>;
  name: string;
  /** Write for speed where the numbers stay the same (ReLU6 as one Clip, …), or translate literally. */
  rewrite: boolean;
}

export function dataInputs(ctx: ConvertContext): string[] {
  return (ctx.node.input ?? []).filter((i) => !i.startsWith('^'));
}

export function constantOf(ctx: ConvertContext, input: string): GraphConstant | undefined {
  return ctx.constants.get(input.split(':')[0]!);
}

export function needConstant(ctx: ConvertContext, input: string, role: string): GraphConstant {
  const c = constantOf(ctx, input);
  if (!c) throw new UnsupportedModelError(`${ctx.name}: ${ctx.node.op} ${ctx.node.name} has a computed ${role}`);
  return c;
}

/** The ONNX value of a tf input: a produced value, or a constant written as an initializer on first use. */
export function value(ctx: ConvertContext, input: string): string {
  const known = ctx.values.get(tensorKey(input));
  if (known) return known;
  const c = needConstant(ctx, input, 'input');
  const name = ctx.g.constant(input.split(':')[0]!, c.dtype === 'float32' ? c.values : c.values, c.shape);
  ctx.values.set(tensorKey(input), name);
  return name;
}

export function produce(ctx: ConvertContext, onnxName: string, fourD = false): void {
  ctx.values.set(`${ctx.node.name}:0`, onnxName);
  if (fourD) ctx.fourD.add(`${ctx.node.name}:0`);
}

export const isFourD = (ctx: ConvertContext, input: string): boolean => ctx.fourD.has(tensorKey(input));

export function unary(op: string, attributes: Record<string, Attribute> = {}) {
  return (ctx: ConvertContext) =>
    produce(ctx, ctx.g.op(op, [value(ctx, dataInputs(ctx)[0]!)], ctx.node.name, attributes));
}

export function binary(op: string) {
  return (ctx: ConvertContext) => {
    const [a, b] = dataInputs(ctx);
    produce(ctx, ctx.g.op(op, [value(ctx, a!), value(ctx, b!)], ctx.node.name));
  };
}
