import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { FastActivation } from '../ml/layers/fast-activation.js';

const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);

test("FastActivation gives stock Activation's bytes (relu and others): output and input gradient", async () => {
  await tf.setBackend('cpu');
  const x = tf.tensor2d([NaN, -0, 0, 1e-40, -2, 1.5, Infinity, -Infinity, 0.25, -0.75], [2, 5]);
  const dy = tf.tensor2d([1, -2, 3, -4, 5, -6, 7, NaN, Infinity, -0], [2, 5]);
  for (const activation of ['relu', 'sigmoid'] as const) {
    const [stock, fast] = [tfl.layers.activation({ activation }), new FastActivation({ activation })];
    const run = (layer: typeof stock) => {
      const apply = (input: tf.Tensor) => layer.apply(input) as tf.Tensor;
      return [apply(x), tf.grad(apply)(x, dy)];
    };
    const want = run(stock);
    run(fast).forEach((t, i) => assert.deepEqual(bytes(t), bytes(want[i]!), `${activation}: ${['y', 'dx'][i]}`));
    assert.equal(fast.getClassName(), 'Activation');
  }
});
