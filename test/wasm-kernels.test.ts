import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { buildPaperCnn, type PaperCnnSpec } from '../ml/architectures/paper-cnn.js';
import { setFilterGradientStrategy, type FilterGradientStrategy } from '../ml/kernels/wasm-filter-gradient.js';
import { registerWasmGradientKernels } from '../ml/kernels/wasm-kernels.js';
import { loadDnnlAddon } from '../ml/kernels/native-addon.js';
import { selectBackend } from '../ml/runtime.js';

/*
 * Every kernel fer-dag adds to or replaces on the wasm backend, run on random inputs and compared with the
 * pure-JS cpu backend, which is the reference: its kernels are direct loops over the definitions.
 *
 * Error measure: max_i |wasm_i − cpu_i| / max_i |cpu_i|, i.e. the largest deviation relative to the
 * tensor's own scale. Relative to each element would fail on sums that cancel to near zero; relative to
 * 1 would pass anything for small gradients. A kernel that reads a wrong tap or window errs by O(1).
 */
const TOLERANCE = 1e-4;

/** The wasm backend's own kernels that fer-dag replaces; the tests below must run the replacements. */
const REPLACED = [
  tf.Conv2DBackpropInput,
  tf.MaxPoolGrad,
  tf.Sum,
  tf.Mean,
  tf.Identity,
  tf.BatchMatMul,
  tf.Maximum,
  tf.Minimum,
];
const stockWasmKernels = REPLACED.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc);

before(async () => {
  registerWasmGradientKernels();
  REPLACED.forEach((name, i) =>
    assert.notEqual(tf.getKernel(name, 'wasm')?.kernelFunc, stockWasmKernels[i], `${name} is replaced`),
  );
  assert.ok(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm'), 'Conv2DBackpropFilter is added');
  assert.ok(await tf.setBackend('wasm'), 'the wasm backend initialises');
  assert.ok(await tf.setBackend('cpu'), 'the cpu backend initialises');
});

/** mulberry32: a seeded stream of floats in [-1, 1), so a failure reproduces with the same numbers. */
function randomValues(count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Runs `compute` on `backend` and reads its results back as plain arrays. */
async function on(backend: 'cpu' | 'wasm' | 'native', compute: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const tensors = tf.tidy(compute);
  try {
    return await Promise.all(tensors.map(async (t) => Float32Array.from(await t.data())));
  } finally {
    tf.dispose(tensors);
  }
}

function largestMagnitude(values: Float32Array): number {
  let largest = 0;
  for (const v of values) largest = Math.max(largest, Math.abs(v));
  return largest;
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length, 'same number of values');
  const scale = largestMagnitude(expected);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    if (Number.isNaN(error)) return Infinity;
    worst = Math.max(worst, error);
  }
  return scale === 0 ? worst : worst / scale;
}

/** Runs `compute` on both backends and asserts every output agrees within TOLERANCE. */
async function assertWasmMatchesCpu(
  label: string,
  compute: () => tf.Tensor[],
  reference = () => on('cpu', compute),
): Promise<void> {
  const expected = await reference();
  const actual = await on('wasm', compute);
  assert.equal(actual.length, expected.length);
  expected.forEach((values, i) => {
    const error = relativeError(actual[i]!, values);
    assert.ok(error <= TOLERANCE, `${label}, output ${i}: relative error ${error.toExponential(2)} > ${TOLERANCE}`);
  });
}

type Padding = 'same' | 'valid' | number[][];

interface ConvCase {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  strides: [number, number];
  pad: Padding;
}

const describeCase = (c: ConvCase): string =>
  `${c.kernel}×${c.kernel} stride ${c.strides.join('×')} pad ${JSON.stringify(c.pad)} on ${c.batch}×${c.height}×${c.width}×${c.inChannels} → ${c.outChannels}`;

/** Kernels 1, 3, 5 × strides 1, 2 × 'same', 'valid', on odd and even (and non-square) sizes, channels 1, 3, 8. */
const CONV_CASES: ConvCase[] = [];
const CHANNELS: Array<[number, number]> = [
  [1, 8],
  [3, 3],
  [8, 1],
  [3, 8],
];
for (const kernel of [1, 3, 5]) {
  for (const stride of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      for (const [height, width] of [
        [7, 7],
        [8, 6],
      ] as const) {
        const [inChannels, outChannels] = CHANNELS[CONV_CASES.length % CHANNELS.length]!;
        CONV_CASES.push({ batch: 2, height, width, inChannels, outChannels, kernel, strides: [stride, stride], pad });
      }
    }
  }
}
CONV_CASES.push(
  {
    batch: 3,
    height: 7,
    width: 6,
    inChannels: 3,
    outChannels: 8,
    kernel: 3,
    strides: [1, 1],
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  },
  {
    batch: 2,
    height: 8,
    width: 7,
    inChannels: 8,
    outChannels: 3,
    kernel: 3,
    strides: [2, 2],
    pad: [
      [0, 0],
      [0, 1],
      [1, 1],
      [0, 0],
    ],
  },
  { batch: 2, height: 9, width: 8, inChannels: 3, outChannels: 3, kernel: 5, strides: [2, 1], pad: 'same' },
);

function convShapes(c: ConvCase): { x: number[]; filter: number[]; dy: number[] } {
  const x = [c.batch, c.height, c.width, c.inChannels];
  const filter = [c.kernel, c.kernel, c.inChannels, c.outChannels];
  const info = tf.backend_util.computeConv2DInfo(
    x as [number, number, number, number],
    filter as [number, number, number, number],
    c.strides,
    1,
    c.pad as 'same',
  );
  return { x, filter, dy: info.outShape };
}

describe('Conv2DBackpropFilter on wasm', () => {
  // Both rewrites run in training (by size), so each is checked on every case.
  for (const strategy of ['patches', 'batch-as-channels'] as FilterGradientStrategy[]) {
    test(`${strategy}: matches the cpu backend for every kernel size, stride and padding`, async () => {
      setFilterGradientStrategy(strategy);
      try {
        for (const [i, c] of CONV_CASES.entries()) {
          const shapes = convShapes(c);
          const x = randomValues(sizeOf(shapes.x), 100 + i);
          const dy = randomValues(sizeOf(shapes.dy), 200 + i);
          await assertWasmMatchesCpu(`${strategy}, ${describeCase(c)}`, () => [
            tf.engine().runKernel(
              tf.Conv2DBackpropFilter,
              {
                x: tf.tensor(x, shapes.x),
                dy: tf.tensor(dy, shapes.dy),
              },
              {
                strides: c.strides,
                pad: c.pad,
                dataFormat: 'NHWC',
                filterShape: shapes.filter,
              } as unknown as tf.NamedAttrMap,
            ),
          ]);
        }
      } finally {
        setFilterGradientStrategy('auto');
      }
    });
  }
});

describe('BatchMatMul on wasm', () => {
  test('matches cpu for every transpose combination, with and without a leading batch of one, and batched', async () => {
    const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
      { a: [9, 5], b: [9, 4], ta: true, tb: false }, // a dense layer's weight gradient, the replaced case
      { a: [1, 9, 5], b: [1, 9, 4], ta: true, tb: false },
      { a: [9, 5], b: [4, 9], ta: true, tb: true },
      { a: [5, 9], b: [9, 4], ta: false, tb: false },
      { a: [5, 9], b: [4, 9], ta: false, tb: true },
      { a: [3, 9, 5], b: [3, 9, 4], ta: true, tb: false },
    ];
    for (const [i, c] of cases.entries()) {
      const a = randomValues(sizeOf(c.a), 800 + i);
      const b = randomValues(sizeOf(c.b), 900 + i);
      await assertWasmMatchesCpu(
        `matMul ${c.a.join('×')}${c.ta ? 'ᵀ' : ''} · ${c.b.join('×')}${c.tb ? 'ᵀ' : ''}`,
        () => [tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.ta, c.tb)],
      );
    }
  });
});

describe('Conv2DBackpropInput on wasm', () => {
  test('matches the cpu backend for every kernel size, stride and padding', async () => {
    for (const [i, c] of CONV_CASES.entries()) {
      const shapes = convShapes(c);
      const filter = randomValues(sizeOf(shapes.filter), 300 + i);
      const dy = randomValues(sizeOf(shapes.dy), 400 + i);
      await assertWasmMatchesCpu(describeCase(c), () => [
        tf.engine().runKernel(
          tf.Conv2DBackpropInput,
          {
            dy: tf.tensor(dy, shapes.dy),
            filter: tf.tensor(filter, shapes.filter),
          },
          { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: shapes.x } as unknown as tf.NamedAttrMap,
        ),
      ]);
    }
  });
});

interface PoolCase {
  shape: [number, number, number, number];
  filter: number;
  stride: number;
  pad: 'same' | 'valid';
}

function maxPoolGrad(input: tf.Tensor4D, dy: tf.Tensor4D, c: PoolCase): tf.Tensor {
  return tf
    .engine()
    .runKernel(
      tf.MaxPoolGrad,
      { dy, input, output: tf.maxPool(input, c.filter, c.stride, c.pad) },
      { filterSize: c.filter, strides: c.stride, pad: c.pad },
    );
}

describe('MaxPoolGrad on wasm', () => {
  test("sends each window's gradient to its first largest value in row-major order, as cpu does", async () => {
    // Windows: all zeros (as after a ReLU), a tie of ones with a zero, a tie of fives, and all threes.
    const input = [0, 0, 1, 1, 0, 0, 1, 0, 2, 5, 3, 3, 5, 1, 3, 3];
    const expected = [1, 0, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0];
    const c: PoolCase = { shape: [1, 4, 4, 1], filter: 2, stride: 2, pad: 'valid' };
    for (const backend of ['cpu', 'wasm'] as const) {
      const [dx] = await on(backend, () => [
        maxPoolGrad(tf.tensor4d(input, c.shape), tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]), c),
      ]);
      assert.deepEqual([...dx!], expected, backend);
    }
  });

  test('passes nothing from a window of −∞ and never picks NaN, as cpu does', async () => {
    const input = [NaN, 1, -Infinity, -Infinity, 2, NaN, -Infinity, -Infinity];
    const expected = [0, 0, 0, 0, 5, 0, 0, 0];
    const c: PoolCase = { shape: [1, 2, 4, 1], filter: 2, stride: 2, pad: 'valid' };
    for (const backend of ['cpu', 'wasm'] as const) {
      const [dx] = await on(backend, () => [
        maxPoolGrad(tf.tensor4d(input, c.shape), tf.tensor4d([5, 7], [1, 1, 2, 1]), c),
      ]);
      assert.deepEqual([...dx!], expected, backend);
    }
  });

  test('matches cpu on ReLU-like inputs full of ties, for tiling, clipped and overlapping windows', async () => {
    const cases: PoolCase[] = [
      { shape: [3, 8, 6, 8], filter: 2, stride: 2, pad: 'valid' },
      { shape: [2, 7, 9, 3], filter: 2, stride: 2, pad: 'valid' },
      { shape: [2, 7, 9, 3], filter: 2, stride: 2, pad: 'same' },
      { shape: [2, 7, 8, 1], filter: 3, stride: 1, pad: 'same' },
      { shape: [2, 9, 7, 8], filter: 3, stride: 2, pad: 'valid' },
    ];
    for (const [i, c] of cases.entries()) {
      // Half zeros and a few levels: most windows hold ties, some at the maximum.
      const input = randomValues(sizeOf(c.shape), 500 + i).map((v) => Math.max(0, Math.round(v * 3)));
      const outShape = tf.backend_util.computePool2DInfo(c.shape, c.filter, c.stride, 1, c.pad).outShape;
      const dy = randomValues(sizeOf(outShape), 600 + i);
      await assertWasmMatchesCpu(`${c.filter}×${c.filter} stride ${c.stride} ${c.pad} on ${c.shape.join('×')}`, () => [
        maxPoolGrad(tf.tensor4d(input, c.shape), tf.tensor4d(dy, outShape), c),
      ]);
    }
  });
});

describe('Sum and Mean on wasm', () => {
  test("match cpu over leading axes (the batch-norm gradient's and moments') and over any others", async () => {
    const cases: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean; out: number[] }> = [
      { shape: [4, 7, 6, 8], axis: [0, 1, 2], keepDims: false, out: [8] },
      { shape: [4, 7, 6, 8], axis: [2, 0, 1], keepDims: true, out: [1, 1, 1, 8] },
      { shape: [4, 7, 6, 3], axis: [0, 1], keepDims: false, out: [6, 3] },
      { shape: [33, 5], axis: 0, keepDims: false, out: [5] },
      { shape: [5, 6, 8], axis: [-3], keepDims: false, out: [6, 8] },
      { shape: [4, 7, 6, 8], axis: [1, 2], keepDims: false, out: [4, 8] },
      { shape: [4, 7, 6, 8], axis: [0, 1, 2, 3], keepDims: false, out: [] },
    ];
    for (const [i, c] of cases.entries()) {
      const x = randomValues(sizeOf(c.shape), 700 + i);
      const label = `sum over ${JSON.stringify(c.axis)} of ${c.shape.join('×')}`;
      await assertWasmMatchesCpu(label, () => {
        const sum = tf.sum(tf.tensor(x, c.shape), c.axis, c.keepDims);
        const mean = tf.mean(tf.tensor(x, c.shape), c.axis, c.keepDims);
        assert.deepEqual(sum.shape, c.out, `${label} on ${tf.getBackend()}: shape`);
        assert.deepEqual(mean.shape, c.out, `${label} on ${tf.getBackend()}: mean's shape`);
        return [sum, mean];
      });
    }
  });
});

describe('Maximum and Minimum on wasm', () => {
  test('against a single number (relu6 as max then min) give exactly what cpu gives, infinities included; tensor pairs too', async () => {
    const x = Float32Array.from([...randomValues(4 * 5 * 6 * 3, 900)].map((v) => v * 10));
    x.set([Infinity, -Infinity, 0, -0, 6, 6.000001], 0);
    const y = randomValues(x.length, 901);
    for (const [label, compute] of [
      [
        'max(x, 0) then min(·, 6)',
        () => tf.minimum(tf.maximum(tf.tensor(x, [4, 5, 6, 3]), tf.scalar(0)), tf.scalar(6)),
      ],
      ['max(2.5, x) with the scalar first', () => tf.maximum(tf.scalar(2.5), tf.tensor(x, [4, 5, 6, 3]))],
      ['min(x, [[-1]]) against a rank-2 single value', () => tf.minimum(tf.tensor(x, [4, 5, 6, 3]), tf.tensor([[-1]]))],
      ['max(x, y) of two tensors', () => tf.maximum(tf.tensor(x, [4, 5, 6, 3]), tf.tensor(y, [4, 5, 6, 3]))],
    ] as const) {
      const [wasm] = await on('wasm', () => [compute()]);
      const [cpu] = await on('cpu', () => [compute()]);
      assert.deepEqual(wasm, cpu, label);
    }
  });
});

// The same step on the native backend (wasm with oneDNN's convolutions), where the addon is built.
const native = loadDnnlAddon();
for (const backend of ['wasm', 'native'] as const) {
  describe(
    `a paper-CNN training step on ${backend}`,
    { skip: backend === 'native' && 'reason' in native && native.reason },
    () => {
      test("computes the same loss and weight gradients as tfjs's own kernels and gradients on cpu", async () => {
        if (backend === 'native') await selectBackend('native');
        const spec: PaperCnnSpec = {
          inputSize: 16,
          channels: 1,
          width: 0.125,
          classes: 7,
          dropout: 0,
          batchNormMomentum: 0.99,
        };
        const batch = 8;
        const images = randomValues(batch * spec.inputSize * spec.inputSize, 11);
        const labels = Array.from({ length: batch }, (_, i) => (i * 3) % spec.classes);

        // Both models get the same seeded weights: kernels drawn Glorot-uniform from a fixed seed (tfjs' own
        // initializers are unseeded, and one draw in a few dozen left a dense unit at ReLU's kink, where the two
        // backends' float noise sends a gradient either way), the batch norms and biases as initialised.
        await tf.setBackend('cpu');
        const cpuModel = buildPaperCnn(spec);
        const weights = await Promise.all(
          cpuModel.getWeights().map(async (w, i) => {
            if (w.shape.length < 2) return { shape: w.shape, values: await w.data() };
            const receptive = w.shape.slice(0, -2).reduce((a, b) => a * b, 1);
            const [fanIn, fanOut] = [
              receptive * w.shape[w.shape.length - 2]!,
              receptive * w.shape[w.shape.length - 1]!,
            ];
            const limit = Math.sqrt(6 / (fanIn + fanOut));
            return { shape: w.shape, values: randomValues(w.size, 1000 + i).map((v) => v * limit) };
          }),
        );
        cpuModel.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
        await tf.setBackend(backend);
        const wasmModel = buildPaperCnn(spec);
        wasmModel.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));

        const stepOn = (on_: 'cpu' | 'wasm' | 'native', model: LayersModel) => () =>
          on(on_, () => {
            const x = tf.tensor4d(images, [batch, spec.inputSize, spec.inputSize, spec.channels]);
            const y = tf.oneHot(tf.tensor1d(labels, 'int32'), spec.classes);
            const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
            const { value, grads } = tf.variableGrads(() => {
              const p = model.apply(x, { training: true }) as tf.Tensor;
              return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))), -1))) as tf.Scalar;
            }, variables);
            return [value, ...variables.map((v) => grads[v.name]!)];
          });
        const expected = await stepOn('cpu', cpuModel)();
        const actual = await stepOn(backend, wasmModel)();
        assert.equal(actual.length, 1 + cpuModel.trainableWeights.length);

        // A bias right before a batch norm is subtracted again with the batch mean: its gradient is zero in
        // exact arithmetic and float32 noise in practice, so it is held to zero rather than compared.
        const cancelled = new Set(
          cpuModel.layers.flatMap((layer, j) =>
            cpuModel.layers[j + 1]?.getClassName() === 'BatchNormalization'
              ? layer.trainableWeights.filter((w) => w.originalName.endsWith('/bias')).map((w) => w.originalName)
              : [],
          ),
        );
        assert.equal(cancelled.size, 6, 'four conv and two dense biases feed a batch norm');
        const stepScale = Math.max(...expected.slice(1).map(largestMagnitude));
        const names = ['loss', ...cpuModel.trainableWeights.map((w) => w.originalName)];
        expected.forEach((values, i) => {
          const name = names[i]!;
          if (cancelled.has(name)) {
            for (const [where, g] of [
              ['cpu', values],
              [backend, actual[i]!],
            ] as const) {
              const largest = largestMagnitude(g);
              assert.ok(
                largest <= 1e-5 * stepScale,
                `${name} on ${where}: gradient ${largest.toExponential(2)} should be ~0`,
              );
            }
            return;
          }
          const error = relativeError(actual[i]!, values);
          assert.ok(error <= TOLERANCE, `${name}: relative error ${error.toExponential(2)} > ${TOLERANCE}`);
        });
        cpuModel.dispose();
        wasmModel.dispose();
      });
    },
  );
}
