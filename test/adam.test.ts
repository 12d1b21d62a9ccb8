import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { FusedAdam } from '../ml/training/adam.js';

test("the replicas' fused Adam takes the same steps as tfjs' Adam, learning-rate changes included", async () => {
  await tf.setBackend('cpu');
  const shapes = [[3, 4], [5]];
  let seed = 7;
  const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const initial = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b) }, random));
  const variables = initial.map((values, i) => tf.variable(tf.tensor(values, shapes[i]), true, `w${i}`));
  const reference = tf.train.adam(0.01);
  const fused = new FusedAdam(
    initial.map((v) => v.length),
    0.01,
  );
  const ours = initial.map((v) => v.slice());
  for (let step = 0; step < 5; step++) {
    if (step === 3) {
      fused.learningRate = 0.005;
      (reference as unknown as { learningRate: number }).learningRate = 0.005;
    }
    const gradients = initial.map((v) => Float32Array.from({ length: v.length }, random));
    reference.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: tf.tensor(gradients[i]!, shapes[i]) })));
    const flat = new Float32Array(gradients.reduce((n, g) => n + g.length, 0));
    flat.set(gradients[0]!, 0);
    flat.set(gradients[1]!, gradients[0]!.length);
    fused.apply(ours, flat);
  }
  variables.forEach((v, i) => {
    const expected = v.dataSync();
    const moved = Math.max(...Array.from(expected, (e, j) => Math.abs(e - initial[i]![j]!)));
    assert.ok(moved > 0.01, 'the weights moved');
    for (let j = 0; j < expected.length; j++)
      assert.ok(Math.abs(ours[i]![j]! - expected[j]!) <= 1e-6, `w${i}[${j}]: ${ours[i]![j]} vs ${expected[j]}`);
  });
});
