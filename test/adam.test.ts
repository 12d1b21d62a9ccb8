import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { FusedAdam } from '../ml/training/adam.js';
import { meanOfSlots } from '../ml/training/gradient-mean.js';
import { seededRandom } from '../lib/random.js';
import { loadDnnlAddon, type DnnlAddon } from '../ml/kernels/native-addon.js';

/** A seeded stream of uniform values in [−1, 1). */
function uniform(seed: number): () => number {
  const random = seededRandom(seed, 'adam test');
  return () => random() * 2 - 1;
}

test("the replicas' fused Adam takes the same steps as tfjs' Adam, learning-rate changes included", async () => {
  await tf.setBackend('cpu');
  const shapes = [[3, 4], [5]];
  const random = uniform(7);
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

const loaded = loadDnnlAddon();
test(
  "the addon's Adam gives the JavaScript loop's bytes, on shared memory too",
  { skip: 'reason' in loaded ? loaded.reason : false },
  () => {
    const addon = (loaded as { addon: DnnlAddon }).addon;
    let calls = 0;
    const random = uniform(11);
    const sizes = [1000, 37];
    const start = sizes.map((n) => Float32Array.from({ length: n }, random));
    const shared = sizes.map((n, i) => {
      const view = new Float32Array(new SharedArrayBuffer(4 * n));
      view.set(start[i]!);
      return view;
    });
    const plain = start.map((w) => w.slice());
    const [js, native] = [
      new FusedAdam(sizes, 0.01),
      new FusedAdam(sizes, 0.01, (...args) => {
        calls++;
        addon.adamStep(...args);
      }),
    ];
    for (let step = 0; step < 6; step++) {
      if (step === 4) js.learningRate = native.learningRate = 0.002;
      // Gradients of every scale, zeros included, so rounding differences would show.
      const g = Float32Array.from({ length: 1037 }, (_, i) => (i % 50 === 0 ? 0 : random() * 10 ** ((i % 7) - 3)));
      js.apply(plain, g);
      native.apply(shared, g);
    }
    assert.equal(calls, 6 * sizes.length, 'every step went through the addon');
    plain.forEach((w, i) => {
      assert.notDeepEqual([...w], [...start[i]!], 'the weights moved');
      assert.deepEqual(Buffer.from(shared[i]!.buffer), Buffer.from(w.buffer), `weights ${i}: the same bytes`);
    });
  },
);

test(
  "the addon's mean of the replicas' gradient slots gives the JavaScript loop's bytes",
  { skip: 'reason' in loaded ? loaded.reason : false },
  () => {
    const addon = (loaded as { addon: DnnlAddon }).addon;
    const random = uniform(5);
    const size = 1201;
    // Every scale, zeros, sums that round and overflow to infinity, and a NaN.
    const slots = [0, 1, 2].map(() => {
      const slot = new Float32Array(new SharedArrayBuffer(4 * size));
      for (let i = 0; i < size; i++) slot[i] = i % 97 === 0 ? 0 : random() * 10 ** ((i % 9) - 4);
      slot[17] = 3e38;
      return slot;
    });
    slots[1]![40] = NaN;
    for (const count of [1, 2, 3]) {
      const [from, to] = [3, size - 5];
      const js = new Float32Array(to - from);
      const native = new Float32Array(to - from);
      meanOfSlots(slots.slice(0, count), from, to, 64, js);
      meanOfSlots(slots.slice(0, count), from, to, 64, native, addon);
      assert.ok(
        js.some((v) => v !== 0),
        'the mean is not all zeros',
      );
      assert.deepEqual(Buffer.from(native.buffer), Buffer.from(js.buffer), `${count} slots: the same bytes`);
    }
  },
);
