import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';

test("loading fer-dag's layers uses up none of the numbers tfjs-layers names layers by", async () => {
  const names = () => [
    tfl.layers.conv2d({ filters: 1, kernelSize: 1 }).name,
    tfl.layers.activation({ activation: 'relu' }).name,
    tfl.layers.batchNormalization({}).name,
    tfl.layers.dropout({ rate: 0.5 }).name,
  ];
  const number = (name: string) => Number(/(\d+)$/.exec(name)?.[1]);
  const before = names();
  // The models' modules, and with them FastConv2D, FastActivation, FastBatchNorm and FastDropout.
  await import('../ml/training/model-spec.js');
  const after = names();
  after.forEach((name, i) => assert.equal(number(name), number(before[i]!) + 1, `${before[i]} then ${name}`));
});
