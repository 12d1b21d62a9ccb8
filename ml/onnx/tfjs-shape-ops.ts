import { int64s } from './graph.js';
import {
  dataInputs,
  needConstant,
  produce,
  UnsupportedModelError,
  value,
  type ConvertContext,
} from './convert-context.js';

/** The converter's handlers for reductions and ops that only move or reshape values. */

const INT64_MAX = 2 ** 62; // ONNX Slice clamps; any bound past the dimension works

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

export const SHAPE_HANDLERS: Record<string, (ctx: ConvertContext) => void> = {
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
