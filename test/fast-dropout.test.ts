import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { FastDropout } from '../ml/layers/fast-dropout.js';

test('FastDropout drops the given share in training, scales the rest, and is the identity at inference', async () => {
  await tf.setBackend('cpu');
  const layer = new FastDropout(0.25);
  const input = tf.ones([64, 1000]);
  const trained = (layer.apply(input, { training: true }) as tf.Tensor).dataSync();
  const kept = trained.filter((v) => v > 0);
  assert.ok(Math.abs(kept.length / trained.length - 0.75) < 0.01, `kept ${kept.length / trained.length}`);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
  const second = (layer.apply(input, { training: true }) as tf.Tensor).dataSync();
  assert.notDeepEqual(
    Array.from(second.slice(0, 200)),
    Array.from(trained.slice(0, 200)),
    'each call draws a new mask',
  );
  assert.ok((layer.apply(input, { training: false }) as tf.Tensor).dataSync().every((v) => v === 1));
  assert.equal(layer.getClassName(), 'Dropout', 'saved models name the stock layer, so they load anywhere');
});
