import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers the gradients
import { loadDnnlAddon } from '../ml/kernels/native-addon.js';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, RELU_GRAD } from '../ml/kernels/fer-dag-kernels.js';
import { selectBackend } from '../ml/runtime.js';
import { seededRandom } from '../lib/random.js';

const loaded = loadDnnlAddon();
const skip = 'reason' in loaded ? loaded.reason : false;

/** The largest difference over the largest value (1 at least): sums in another order differ in the last bits. */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  return worst / scale;
}

function values(shape: number[], seed: number, scale = 1): Float32Array {
  const rng = seededRandom(seed, 'native kernels');
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng() * 2 - 1) * scale);
}

/** Runs `body` on a backend and returns its results' values. */
async function on(backend: string, body: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(body);
  const data = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return data;
}

// The paper CNN's four convolutions (48×48 gray input, 'same' pads), and two odd ones (stride 2, 'valid'). One image
// for the three big ones: the cpu backend's reference gradients take minutes per image batch of four there.
const CASES: Array<{
  x: [number, number, number, number];
  k: number;
  co: number;
  stride: number;
  pad: 'same' | 'valid';
}> = [
  { x: [2, 48, 48, 1], k: 3, co: 64, stride: 1, pad: 'same' },
  { x: [1, 24, 24, 64], k: 5, co: 128, stride: 1, pad: 'same' },
  { x: [1, 12, 12, 128], k: 3, co: 512, stride: 1, pad: 'same' },
  { x: [1, 6, 6, 512], k: 3, co: 512, stride: 1, pad: 'same' },
  { x: [3, 9, 7, 5], k: 3, co: 6, stride: 2, pad: 'valid' },
  { x: [3, 9, 7, 5], k: 4, co: 6, stride: 2, pad: 'same' },
];

describe('the native backend: convolutions and matrix products on oneDNN', { skip }, () => {
  before(async () => {
    await selectBackend('native');
  });

  for (const c of CASES) {
    const [n, h, w, ci] = c.x as [number, number, number, number];
    test(`${c.x.join('×')} * ${c.k}×${c.k}×${c.co} stride ${c.stride} ${c.pad}: forward, fused, both gradients as on cpu (1e-4)`, async () => {
      const filterShape: [number, number, number, number] = [c.k, c.k, ci, c.co];
      const xv = values(c.x, 1);
      const fv = values(filterShape, 2, 0.2);
      const bv = values([c.co], 3);
      const probe = tf.tidy(() =>
        tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, c.stride, c.pad),
      );
      const dyShape = probe.shape;
      probe.dispose();
      const dyv = values(dyShape, 4);
      const body = () => {
        const x = tf.tensor4d(xv, [n, h, w, ci]);
        const f = tf.tensor4d(fv, [c.k, c.k, ci, c.co]);
        const dy = tf.tensor4d(dyv, dyShape);
        const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad),
        )([x, f], dy);
        return [
          tf.conv2d(x, f, c.stride, c.pad),
          tf.fused.conv2d({ x, filter: f, strides: c.stride, pad: c.pad, bias: tf.tensor1d(bv), activation: 'relu' }),
          dx!,
          df!,
        ];
      };
      const want = await on('cpu', body);
      const got = await on('native', body);
      ['forward', 'fused with bias and ReLU', 'input gradient', 'filter gradient'].forEach((what, i) =>
        assert.ok(relativeError(got[i]!, want[i]!) <= 1e-4, `${what}: ${relativeError(got[i]!, want[i]!)}`),
      );
    });
  }

  // The paper CNN's dense layers (4608 → 256 at batch 64) as a layer runs them, batched products, and shapes
  // the kernel hands back to wasm (a broadcast batch).
  const PRODUCTS: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
    { a: [64, 4608], b: [4608, 256], ta: false, tb: false },
    { a: [64, 256], b: [4608, 256], ta: false, tb: true },
    { a: [64, 4608], b: [64, 256], ta: true, tb: false },
    { a: [3, 5, 7], b: [3, 7, 2], ta: false, tb: false },
    { a: [3, 7, 5], b: [3, 2, 7], ta: true, tb: true },
    { a: [3, 5, 7], b: [7, 2], ta: false, tb: false },
  ];
  for (const p of PRODUCTS) {
    const label = `${p.ta ? 'ᵀ' : ''}[${p.a.join('×')}] · ${p.tb ? 'ᵀ' : ''}[${p.b.join('×')}]`;
    test(`matrix product ${label} as on cpu (1e-4)`, async () => {
      const [av, bv] = [values(p.a, 7), values(p.b, 8)];
      const body = () => [tf.matMul(tf.tensor(av, p.a), tf.tensor(bv, p.b), p.ta, p.tb)];
      const [want, got] = [await on('cpu', body), await on('native', body)];
      assert.ok(relativeError(got[0]!, want[0]!) <= 1e-4, `${label}: ${relativeError(got[0]!, want[0]!)}`);
    });
  }

  test("a dense layer's fused product (bias; ReLU or none; other activations to wasm) as on cpu (1e-4)", async () => {
    const cases = [
      { a: [32, 256], b: [256, 512], bias: [512], activation: 'linear' as const },
      { a: [32, 512], b: [512, 7], bias: [7], activation: 'relu' as const },
      { a: [5, 9], b: [4, 9], bias: undefined, activation: 'relu' as const, tb: true },
      { a: [2, 5, 9], b: [2, 9, 4], bias: [1, 4], activation: 'linear' as const },
      { a: [5, 9], b: [9, 4], bias: [4], activation: 'elu' as const },
    ];
    for (const c of cases) {
      const [av, bv, biasValues] = [values(c.a, 3), values(c.b, 4), values(c.bias ?? [1], 5)];
      const body = () => [
        tf.fused.matMul({
          a: tf.tensor(av, c.a),
          b: tf.tensor(bv, c.b),
          transposeB: c.tb ?? false,
          bias: c.bias ? tf.tensor(biasValues, c.bias) : undefined,
          activation: c.activation,
        }),
      ];
      const [want, got] = [await on('cpu', body), await on('native', body)];
      const label = `[${c.a.join('×')}] · [${c.b.join('×')}] + [${c.bias?.join('×') ?? ''}], ${c.activation}`;
      assert.ok(relativeError(got[0]!, want[0]!) <= 1e-4, `${label}: ${relativeError(got[0]!, want[0]!)}`);
      if (c.activation === 'relu') assert.ok(got[0]!.some((v) => v === 0) && got[0]!.every((v) => v >= 0), label);
    }
  });

  test('batch norm normalises each channel as on cpu (1e-4), with [C] or scalar parameters', async () => {
    const shape = [4, 6, 6, 32];
    const channel = (seed: number, lo: number) => values([32], seed).map((v) => lo + Math.abs(v));
    for (const scalar of [false, true]) {
      const body = () => {
        const x = tf.tensor4d(values(shape, 9), shape as [number, number, number, number]);
        const param = (seed: number, lo: number) => (scalar ? tf.scalar(lo + 0.5) : tf.tensor1d(channel(seed, lo)));
        return [tf.batchNorm(x, param(10, -0.5), param(11, 0.1), param(12, -1), param(13, 0.5), 1e-3)];
      };
      const [want, got] = [await on('cpu', body), await on('native', body)];
      assert.ok(relativeError(got[0]!, want[0]!) <= 1e-4, `scalar ${scalar}: ${relativeError(got[0]!, want[0]!)}`);
    }
  });

  test("training-mode batch norm's two kernels give the batch moments, output and gradients of tfjs ops on cpu", async () => {
    for (const shape of [
      [2, 12, 12, 128],
      [64, 256],
    ]) {
      const channels = shape.at(-1)!;
      const xv = values(shape, 21, 3).map((v) => v + 0.5);
      const [gv, bv, dyv] = [values([channels], 22), values([channels], 23), values(shape, 24)];
      const axes = shape.slice(0, -1).map((_, i) => i);
      const reference = () => {
        const [x, gamma, beta] = [tf.tensor(xv, shape), tf.tensor1d(gv), tf.tensor1d(bv)];
        const { mean, variance } = tf.moments(x, axes);
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const m = tf.moments(a, axes);
          return tf.batchNorm(a, m.mean, m.variance, b, g, 1e-3);
        };
        return [f(x, gamma, beta), mean, variance, ...tf.grads(f)([x, gamma, beta], tf.tensor(dyv, shape))];
      };
      const kernels = () => {
        const [x, gamma, beta] = [tf.tensor(xv, shape), tf.tensor1d(gv), tf.tensor1d(bv)];
        const forward = tf.engine().runKernel(BATCH_NORM_TRAINING, { x, gamma, beta }, { epsilon: 1e-3 });
        const [y, mean, variance] = forward as tf.Tensor[];
        const inputs = { x, dy: tf.tensor(dyv, shape), mean: mean!, variance: variance!, gamma };
        const backward = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, inputs, { epsilon: 1e-3 }) as tf.Tensor[];
        return [y!, mean!, variance!, ...backward];
      };
      const [want, got] = [await on('cpu', reference), await on('native', kernels)];
      ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'].forEach((what, i) =>
        assert.ok(relativeError(got[i]!, want[i]!) <= 1e-4, `${shape}: ${what}: ${relativeError(got[i]!, want[i]!)}`),
      );
    }
  });

  test('sums and means over leading axes, and the 2×2 max-pool gradient (ties and odd sizes), as on cpu', async () => {
    const shape: [number, number, number, number] = [4, 7, 6, 16];
    // Rounded values make ties, as the zeros after a ReLU do; the odd height leaves a row no window covers.
    const xv = values(shape, 14).map((v) => Math.max(0, Math.round(v * 3) / 3));
    const dyv = values([4, 3, 3, 16], 15);
    const pool = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid');
    const body = () => {
      const x = tf.tensor4d(xv, shape);
      const dx = tf.grad(pool)(x, tf.tensor4d(dyv, [4, 3, 3, 16]));
      return [tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2], true), tf.sum(x, 0), dx];
    };
    const [want, got] = [await on('cpu', body), await on('native', body)];
    ['sum', 'mean', 'sum over the batch', 'max-pool gradient'].forEach((what, i) =>
      assert.ok(relativeError(got[i]!, want[i]!) <= 1e-5, `${what}: ${relativeError(got[i]!, want[i]!)}`),
    );
  });

  test('the 2×2 max-pool gradient, eight channels at a time and the rest one by one, picks the winners cpu picks', async () => {
    // One window per channel (taps: top left, top right, bottom left, bottom right): ties, NaN, ±∞, −0.
    const windows = [
      [1, 1, 0, 0],
      [0, 2, 2, 1],
      [NaN, 3, NaN, 3],
      [-Infinity, -Infinity, -Infinity, -Infinity],
      [-Infinity, NaN, -Infinity, -5],
      [-0, 0, -0, 0],
      [NaN, NaN, NaN, NaN],
      [1, 2, 3, 4],
      [4, 3, 2, 1],
      [Infinity, Infinity, 1, 2],
      [-3, -2, -1, -1],
    ];
    const c = windows.length; // 8 in vectors and 3 left over
    const x = new Float32Array(4 * c);
    windows.forEach((taps, d) => taps.forEach((v, t) => (x[t * c + d] = v)));
    const dy = Float32Array.from({ length: c }, (_, d) => (d % 2 ? -1 : 1) * (d + 1));
    const body = () => [
      tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'))(
        tf.tensor4d(x, [1, 2, 2, c]),
        tf.tensor4d(dy, [1, 1, 1, c]),
      ),
    ];
    const [want, got] = [await on('cpu', body), await on('native', body)];
    assert.deepEqual(Buffer.from(got[0]!.buffer), Buffer.from(want[0]!.buffer));
    const taps = (d: number) => [0, 1, 2, 3].map((t) => got[0]![t * c + d]);
    assert.deepEqual(taps(0), [1, 0, 0, 0], 'a tie goes to the first tap');
    assert.deepEqual(taps(2), [0, 3, 0, 0], 'NaN never wins');
    assert.deepEqual(taps(3), [0, 0, 0, 0], 'a window of −∞ passes nothing');
    assert.deepEqual(taps(6), [0, 0, 0, 0], 'nor does a window of NaN');
  });

  test("ReLU's gradient in one kernel gives the bytes of wasm's dy · step(x), NaN, ±0, ±∞ and denormals too", async () => {
    const special = [NaN, -0, 0, 1e-40, -1e-40, 1, -1, Infinity, -Infinity, 3e38];
    const n = 1000 + special.length; // vectors and a tail
    const x = Float32Array.from({ length: n }, (_, i) => special[i % 50] ?? Math.sin(i * 7.1) * 4);
    const dy = Float32Array.from({ length: n }, (_, i) => special[(i + 3) % 40] ?? Math.cos(i * 3.3) * 2);
    const body = (fused: boolean) => () => {
      const [tx, tdy] = [tf.tensor2d(x, [n / 10, 10]), tf.tensor2d(dy, [n / 10, 10])];
      return [
        fused
          ? (tf.engine().runKernel(RELU_GRAD, { x: tx, dy: tdy }) as tf.Tensor)
          : tf.mul(tdy, tf.cast(tf.step(tx), 'float32')),
      ];
    };
    const [want, got] = [await on('native', body(false)), await on('native', body(true))];
    assert.deepEqual(Buffer.from(got[0]!.buffer), Buffer.from(want[0]!.buffer));
  });

  test('the same inputs give the same bytes, call after call', async () => {
    const c = CASES[1]!;
    const body = () => {
      const x = tf.tensor4d(values(c.x, 5), c.x as [number, number, number, number]);
      const f = tf.tensor4d(values([c.k, c.k, 64, c.co], 6, 0.2), [c.k, c.k, 64, c.co]);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))),
      );
      return g([x, f]);
    };
    const [a, b] = [await on('native', body), await on('native', body)];
    a.forEach((t, i) => assert.deepEqual(Buffer.from(t.buffer), Buffer.from(b[i]!.buffer)));
  });

  test('peakFlops measures the FMA loop (over 1 GFLOP/s on one thread) and rejects bad arguments', () => {
    const addon = 'addon' in loaded ? loaded.addon : assert.fail('no addon');
    const flops = addon.peakFlops(1, 50);
    assert.ok(Number.isFinite(flops) && flops > 1e9, `peakFlops(1, 50) = ${flops}`);
    assert.throws(() => addon.peakFlops(0, 50), TypeError);
    assert.throws(() => addon.peakFlops('2' as unknown as number, 50), TypeError);
    assert.throws(() => addon.peakFlops(1, 0), TypeError);
  });
});

test('naming the native backend without the addon is an error that says how to build it', { skip: !skip }, async () => {
  await assert.rejects(selectBackend('native'), /oneDNN addon is not built \(apt-get install libdnnl-dev/);
});
