import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { FastBatchNorm } from '../ml/layers/fast-batch-norm.js';

let seed = 3;
const random = (n: number, scale = 1, offset = 0) =>
  Float32Array.from({ length: n }, () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return offset + scale * ((seed / 2 ** 32) * 2 - 1);
  });

function closeTo(label: string, got: tf.Tensor, want: tf.Tensor): void {
  const a = got.dataSync();
  const b = want.dataSync();
  assert.deepEqual(got.shape, want.shape, label);
  const peak = Math.max(1e-6, ...Array.from(b, Math.abs));
  const worst = Math.max(...Array.from(a, (v, i) => Math.abs(v - (b[i] as number))));
  assert.ok(worst / peak <= 1e-4, `${label}: max error ${worst} against values up to ${peak}`);
}

function pair(shape: number[]) {
  const channels = shape.at(-1) as number;
  const weights = [
    random(channels, 0.5, 1),
    random(channels, 0.3),
    random(channels, 0.2),
    random(channels, 0.3, 1),
  ].map((v) => tf.tensor1d(v));
  const stock = tfl.layers.batchNormalization({ momentum: 0.9 });
  const fast = new FastBatchNorm({ momentum: 0.9 });
  for (const layer of [stock, fast]) {
    layer.build(shape);
    layer.setWeights(weights);
  }
  return { stock, fast };
}

for (const shape of [
  [4, 5, 5, 3],
  [8, 6],
]) {
  test(`FastBatchNorm matches Keras' layer on ${shape.join('×')}: training output, moving statistics, gradients, inference`, async () => {
    await tf.setBackend('cpu');
    // Activations whose mean is far from 0, where a careless gradient loses precision.
    const x = tf.tensor(
      random(
        shape.reduce((a, b) => a * b),
        2,
        5,
      ),
      shape,
    );
    const weight = tf.tensor(random(x.size), shape);
    const { stock, fast } = pair(shape);
    closeTo(
      'training output',
      fast.apply(x, { training: true }) as tf.Tensor,
      stock.apply(x, { training: true }) as tf.Tensor,
    );
    stock
      .getWeights()
      .forEach((w, i) => closeTo(`weight ${i} after one training call`, fast.getWeights()[i] as tf.Tensor, w));
    closeTo('inference output', fast.apply(x) as tf.Tensor, stock.apply(x) as tf.Tensor);

    const gradients = (layer: typeof stock) => {
      const loss = (input: tf.Tensor) =>
        tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, weight)) as tf.Scalar;
      const dx = tf.grad(loss)(x);
      const { grads } = tf.variableGrads(
        () => loss(x),
        layer.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      return [dx, ...layer.trainableWeights.map((w) => grads[(w.read() as tf.Variable).name] as tf.Tensor)];
    };
    const want = gradients(stock);
    gradients(fast).forEach((g, i) => closeTo(['dx', 'dγ', 'dβ'][i] as string, g, want[i] as tf.Tensor));
    assert.equal(fast.getClassName(), 'BatchNormalization');
  });
}
