import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OnnxGraph } from '../ml/onnx/graph.js';
import { fuseClipChains } from '../ml/onnx/fuse-clips.js';
import { commuteAffineMaxPool } from '../ml/onnx/commute-affine.js';
import type { GraphConstant } from '../ml/onnx/tfjs-weights.js';

/** x → Relu → Clip(max 6) → Clip(min 0) → y, as the converter writes Keras' ReLU6; `extra` reads the middle. */
function relu6Graph(extraReader = false): OnnxGraph {
  const g = new OnnxGraph();
  const x = g.input('x', ['batch', 4]);
  const r = g.op('Relu', [x], 'relu');
  const six = g.constant('six', new Float32Array([6]), []);
  const zero = g.constant('zero', new Float32Array([0]), []);
  const low = g.op('Clip', [r, '', six], 'min6');
  const y = g.op('Clip', [low, zero], 'max0');
  g.output(y);
  if (extraReader) g.output(g.op('Identity', [low], 'also'));
  return g;
}

const bounds = (g: OnnxGraph, name: string | undefined) =>
  name ? g.initializers.find((i) => i.name === name)!.data[0] : undefined;

test("Relu, Minimum(6) and Maximum(0) become one Clip(0, 6) with the last one's output, and their constants go", () => {
  const g = relu6Graph();
  fuseClipChains(g);
  assert.deepEqual(
    g.nodes.map((n) => n.op),
    ['Clip'],
  );
  const [clip] = g.nodes;
  assert.equal(clip!.inputs[0], 'x');
  assert.deepEqual([bounds(g, clip!.inputs[1]), bounds(g, clip!.inputs[2])], [0, 6]);
  assert.deepEqual(clip!.outputs, [g.outputs[0]!.name]);
  assert.equal(g.initializers.length, 2, 'only the merged bounds are left');
});

test('a chain whose middle value is read elsewhere is not merged there', () => {
  const g = relu6Graph(true);
  fuseClipChains(g);
  // Relu + Clip(max 6) merge (the Relu's output had one reader); the second Clip must still see the middle.
  assert.deepEqual(
    g.nodes.map((n) => n.op),
    ['Clip', 'Clip', 'Identity'],
  );
  assert.equal(g.nodes[1]!.inputs[0], g.nodes[0]!.outputs[0]);
});

test('clips whose ranges do not meet are left as they are', () => {
  const g = new OnnxGraph();
  const x = g.input('x', [4]);
  const a = g.op('Clip', [x, '', g.constant('one', new Float32Array([1]), [])], 'a');
  g.output(g.op('Clip', [a, g.constant('two', new Float32Array([2]), [])], 'b'));
  fuseClipChains(g);
  assert.equal(g.nodes.length, 2);
});

const vector = (values: number[]): GraphConstant => ({
  dtype: 'float32',
  shape: [values.length],
  values: Float32Array.from(values),
});

function bnThenPool(scale: number[]) {
  const nodes = [
    { name: 'x', op: 'Placeholder' },
    { name: 'relu', op: 'Relu', input: ['x'] },
    { name: 'bn/mul', op: 'Mul', input: ['relu', 'bn/scale'] },
    { name: 'bn/add', op: 'AddV2', input: ['bn/mul', 'bn/offset'] },
    { name: 'pool', op: 'MaxPool', input: ['bn/add'] },
    { name: 'out', op: 'Identity', input: ['pool'] },
  ];
  const constants = new Map([
    ['bn/scale', vector(scale)],
    ['bn/offset', vector([0.5, -1])],
  ]);
  return { nodes, constants };
}

test("a batch norm with positive scales moves past the MaxPool, and its readers still read the pool's name", () => {
  const { nodes, constants } = bnThenPool([2, 0.25]);
  const moved = commuteAffineMaxPool(nodes, constants, new Set(['out']));
  assert.deepEqual(
    moved.map((n) => `${n.op} ${n.name} ← ${(n.input ?? []).join(', ')}`),
    [
      'Placeholder x ← ',
      'Relu relu ← x',
      'MaxPool pool/before_affine ← relu',
      'Mul bn/mul ← pool/before_affine, bn/scale',
      'AddV2 pool ← bn/mul, bn/offset',
      'Identity out ← pool',
    ],
  );
});

test('a batch norm with a negative or zero scale stays before the MaxPool (max would not commute)', () => {
  for (const scale of [
    [2, -0.25],
    [0, 1],
  ]) {
    const { nodes, constants } = bnThenPool(scale);
    assert.deepEqual(commuteAffineMaxPool(nodes, constants, new Set(['out'])), nodes);
  }
});
