import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { FastConv2D } from '../ml/layers/fast-conv2d.js';

let seed = 9;
const random = (n: number) =>
  Float32Array.from({ length: n }, () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return (seed / 2 ** 32) * 2 - 1;
  });

const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);

for (const config of [
  { filters: 4, kernelSize: 3, padding: 'same' as const },
  { filters: 3, kernelSize: 2, padding: 'valid' as const, strides: 2 },
]) {
  test(`FastConv2D gives stock Conv2D's bytes (${config.padding}, stride ${config.strides ?? 1}): output and gradients`, async () => {
    await tf.setBackend('cpu');
    const shape = [2, 6, 6, 3];
    const x = tf.tensor4d(random(2 * 6 * 6 * 3), shape as [number, number, number, number]);
    const stock = tfl.layers.conv2d(config);
    const fast = new FastConv2D(config);
    for (const layer of [stock, fast]) layer.build(shape);
    fast.setWeights(stock.getWeights());
    const weight = tf.tensor(random((stock.computeOutputShape(shape) as number[]).reduce((a, b) => a * b, 1)));
    const gradients = (layer: typeof stock) => {
      const loss = (input: tf.Tensor) =>
        tf.sum(tf.mul(tf.reshape(layer.apply(input) as tf.Tensor, [-1]), weight)) as tf.Scalar;
      const dx = tf.grad(loss)(x);
      const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => loss(x), variables);
      return [layer.apply(x) as tf.Tensor, dx, ...variables.map((v) => grads[v.name] as tf.Tensor)];
    };
    const want = gradients(stock);
    gradients(fast).forEach((g, i) =>
      assert.deepEqual(bytes(g), bytes(want[i]!), ['output', 'dx', 'dkernel', 'dbias'][i]),
    );
    assert.equal(fast.getClassName(), 'Conv2D');
  });
}

test("a first FastConv2D layer never computes its input's gradient; the stock layer does", async () => {
  await tf.setBackend('cpu');
  const x = tf.tensor4d(random(2 * 8 * 8 * 1), [2, 8, 8, 1]);
  const count = async (layer: ReturnType<typeof tfl.layers.conv2d>) => {
    layer.build([2, 8, 8, 1]);
    const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const info = await tf.profile(() => tf.variableGrads(() => tf.sum(layer.apply(x) as tf.Tensor), variables));
    return info.kernels.filter((k) => k.name === 'Conv2DBackpropInput').length;
  };
  assert.equal(await count(tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' })), 1);
  assert.equal(await count(new FastConv2D({ filters: 4, kernelSize: 3, padding: 'same' })), 0);
});
