import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { Store } from '../cache/store.js';
import { readModel } from '../ml/human/model-files.js';
import { loadHumanModel } from '../ml/human/models.js';
import { convertedHumanModel, graphInputShape, loadHumanInference, storeModelStore } from '../ml/human/inference.js';
import { graphModelInference } from '../ml/inference/model.js';
import { planHumanModels } from '../ml/human/plan.js';
import { convertTfjsGraph, UnsupportedModelError } from '../ml/onnx/from-tfjs-graph.js';
import { selectBackend } from '../ml/runtime.js';
import { seededRandom } from '../lib/random.js';
import { renderFace } from '../synth/faces/render.js';
import { STYLES } from '../synth/faces/styles.js';
import { EMOTIONS } from '../datasets/vocabulary.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CPU = { provider: 'cpu' as const, threads: 1 };

/**
 * A batch of rendered faces at the model's input size, in the value range human feeds it: real pictures
 * rather than noise, so every channel and unit of the network is exercised the way predictions use it.
 */
async function faceBatch(shape: readonly number[], range: [number, number], count = 3): Promise<tf.Tensor4D> {
  const [, h, w, c] = shape as [number, number, number, number];
  const rng = seededRandom(5, 'onnx faces');
  const faces: tf.Tensor4D[] = [];
  for (let i = 0; i < count; i++) {
    const face = await renderFace(STYLES.affectnet, 112, rng, EMOTIONS[i % EMOTIONS.length]!);
    faces.push(tf.tensor4d(Float32Array.from(face.pixels), [1, 112, 112, face.pixels.length / (112 * 112)]));
  }
  return tf.tidy(() => {
    let x = tf.concat(faces, 0);
    if (x.shape[3] !== c) x = c === 1 ? tf.mean(x, 3, true) : tf.tile(x, [1, 1, 1, c / x.shape[3]]);
    const resized = tf.image.resizeBilinear(x as tf.Tensor4D, [h, w]);
    return tf.add(tf.mul(resized, (range[1] - range[0]) / 255), range[0]) as tf.Tensor4D;
  });
}

/** Each model with the value range human feeds it (blazeface.ts, attribute-models.ts, backbone.ts, emotion-oracle). */
const MODELS: Record<string, [number, number]> = {
  blazeface: [-1, 1],
  gear: [0, 1],
  faceres: [0, 255],
  age: [0, 255],
  mobileface: [0, 255],
  emotion: [-1, 1],
};

describe('tfjs graph models converted to ONNX', () => {
  before(async () => {
    await selectBackend('wasm');
  });

  for (const [name, range] of Object.entries(MODELS)) {
    test(`${name} gives tfjs's outputs, by the same names, within 1e-4`, async () => {
      const tfjs = graphModelInference(name, await loadHumanModel(name));
      const onnx = await loadHumanInference(name, CPU);
      assert.match(onnx.runtime, /^onnxruntime-node \S+ cpu$/);
      assert.deepEqual(
        onnx.outputNames,
        tfjs.outputNames.map((n, i) => (onnx.outputNames[i]!.startsWith(n) ? onnx.outputNames[i]! : n)),
      );
      assert.deepEqual(onnx.inputShape, tfjs.inputShape);
      const shape = tfjs.inputShape.map((d) => (d > 0 ? d : 3));
      const input = await faceBatch(shape, range, shape[0]);
      const [expected, got] = [await tfjs.run(input), await onnx.run(input)];
      input.dispose();
      assert.equal(got.length, expected.length);
      expected.forEach((want, k) => {
        assert.deepEqual(got[k]!.dims, want.dims, `output ${k} shape`);
        let worst = 0;
        want.data.forEach(
          (v, i) => (worst = Math.max(worst, Math.abs(v - got[k]!.data[i]!) / Math.max(1, Math.abs(v)))),
        );
        assert.ok(worst <= 1e-4, `${name} output ${onnx.outputNames[k]}: differs by ${worst}`);
      });
      tfjs.dispose();
      onnx.dispose();
    });
  }

  test('operator threads split the work, not the sums: 1 and 2 threads give the same bytes', async () => {
    for (const name of ['gear', 'faceres']) {
      const [one, two] = await Promise.all([
        loadHumanInference(name, { provider: 'cpu', threads: 1 }),
        loadHumanInference(name, { provider: 'cpu', threads: 2 }),
      ]);
      const input = await faceBatch(
        one.inputShape.map((d) => (d > 0 ? d : 4)),
        MODELS[name]!,
        4,
      );
      const [a, b] = [await one.run(input), await two.run(input)];
      input.dispose();
      a.forEach((out, k) => assert.deepEqual(Buffer.from(out.data.buffer), Buffer.from(b[k]!.data.buffer), name));
    }
  });

  test('the rewrites for speed change no number: every model gives the same bytes with and without them', async () => {
    const ort = await import('onnxruntime-node');
    for (const [name, range] of Object.entries(MODELS)) {
      const { json, files } = readModel(name);
      const weights = new Uint8Array(Buffer.concat(files.bin.map((f) => fs.readFileSync(f))));
      const shape = graphInputShape(name).map((d) => (d > 0 ? d : 2));
      const input = await faceBatch(shape, range, shape[0]);
      const feed = (session: Awaited<ReturnType<typeof ort.InferenceSession.create>>) => ({
        [session.inputNames[0]!]: new ort.Tensor('float32', input.dataSync() as Float32Array, input.shape),
      });
      const outputs: string[][] = [];
      for (const rewrite of [false, true]) {
        const bytes = convertTfjsGraph(name, json, weights, rewrite).bytes;
        const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
        const out = await session.run(feed(session));
        outputs.push(
          session.outputNames.map((o) => Buffer.from((out[o]!.data as Float32Array).buffer).toString('hex')),
        );
        await session.release();
      }
      input.dispose();
      assert.deepEqual(outputs[1], outputs[0], name);
    }
  });

  test('an op the converter does not know is an UnsupportedModelError naming it (planning then keeps the model on tfjs)', () => {
    const { json, files } = readModel('age');
    const topology = json.modelTopology as { node: Array<{ op: string }> };
    const altered = {
      ...json,
      modelTopology: { ...topology, node: topology.node.map((n) => (n.op === 'Tanh' ? { ...n, op: 'Erf' } : n)) },
    };
    const weights = new Uint8Array(Buffer.concat(files.bin.map((f) => fs.readFileSync(f))));
    assert.throws(
      () => convertTfjsGraph('age', altered, weights),
      (error: Error) => {
        assert.ok(error instanceof UnsupportedModelError);
        assert.match(error.message, /age: ops not converted: Erf/);
        return true;
      },
    );
  });

  test('a conversion is memoised in the store by the source files, and made again when its blob is gone', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-memo-'));
    const store = new Store(dir);
    const first = convertedHumanModel('emotion', storeModelStore(store));
    assert.ok('file' in first && fs.existsSync(first.file));
    const again = convertedHumanModel('emotion', storeModelStore(new Store(dir)));
    assert.deepEqual(again, first);
    fs.rmSync(first.file);
    const remade = convertedHumanModel('emotion', storeModelStore(new Store(dir)));
    assert.ok('file' in remade && fs.existsSync(remade.file) && remade.file === first.file);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a GPU provider that is not here is an error naming the fix, never a quiet fall back', async () => {
    const store = storeModelStore(new Store(fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-cuda-'))));
    await assert.rejects(
      planHumanModels(['gear'], { provider: 'cuda', threads: 0 }, 'wasm', store),
      /runtime: \{ provider: cuda \} could not start \(.*\); install the CUDA provider .*set runtime: \{ provider: cpu \}/,
    );
  });
});

test('without onnxruntime-node the models run on tfjs, the reason logged, and cuda is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'no-ort-'));
  // The script lives in dist/ so that its bare imports resolve to this project's packages.
  const script = path.join(ROOT, 'dist', 'test', `no-onnxruntime-${process.pid}.mjs`);
  // A resolve hook that makes the package missing, as on a machine where it did not install.
  fs.writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
       if (specifier === 'onnxruntime-node') {
         const error = new Error("Cannot find package 'onnxruntime-node'");
         error.code = 'ERR_MODULE_NOT_FOUND';
         throw error;
       }
       return next(specifier, context);
     }`,
  );
  fs.writeFileSync(
    script,
    `import { register } from 'node:module';
     import { pathToFileURL } from 'node:url';
     register(pathToFileURL(${JSON.stringify(path.join(dir, 'hooks.mjs'))}));
     const dist = ${JSON.stringify(path.join(ROOT, 'dist'))};
     const { planHumanModels, loadPlanned } = await import(dist + '/ml/human/plan.js');
     const { storeModelStore } = await import(dist + '/ml/human/inference.js');
     const { Store } = await import(dist + '/cache/store.js');
     const { selectBackend } = await import(dist + '/ml/runtime.js');
     const tf = await import('@tensorflow/tfjs-core');
     const store = storeModelStore(new Store(${JSON.stringify(path.join(dir, 'store'))}));
     const plans = await planHumanModels(['emotion'], { provider: 'cpu', threads: 0 }, 'wasm', store);
     await selectBackend('wasm');
     const model = await loadPlanned(plans.emotion, { provider: 'cpu', threads: 0 }, 1);
     const [out] = await model.run(tf.zeros([1, 64, 64, 1]));
     let refused = '';
     try { await planHumanModels(['emotion'], { provider: 'cuda', threads: 0 }, 'wasm', store); }
     catch (error) { refused = error.message; }
     console.log(JSON.stringify({ plan: plans.emotion, runtime: model.runtime, sum: out.data.reduce((a, b) => a + b, 0), refused }));`,
  );
  const { stdout } = await run(process.execPath, [script], { cwd: ROOT }).finally(() => fs.rmSync(script));
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    plan: { runtime: string; passedOver: string };
    runtime: string;
    sum: number;
    refused: string;
  };
  assert.equal(result.plan.runtime, 'tfjs wasm');
  assert.equal(result.plan.passedOver, 'onnxruntime-node is not installed');
  assert.equal(result.runtime, 'tfjs wasm');
  assert.ok(Math.abs(result.sum - 1) < 1e-4, 'the tfjs model predicted');
  assert.match(result.refused, /provider: cuda .*onnxruntime-node is not installed/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("offline, `npm ci` installs the whole project from npm's cache and every install step passes", async () => {
  // The project's package.json (less its scripts: its own build needs the sources), lockfile and .npmrc.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'offline-ci-'));
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    delete manifest.scripts;
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
    for (const file of ['package-lock.json', '.npmrc']) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
    // No network: any request fails at once (a closed port), as on a machine without internet.
    const closed = 'http://127.0.0.1:9';
    const env = {
      ...process.env,
      HTTP_PROXY: closed,
      HTTPS_PROXY: closed,
      npm_config_proxy: closed,
      npm_config_https_proxy: closed,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    // npm 11 leaves dependencies' install scripts unrun until approved; npm 10 (Node 20's own) runs them all, as
    // this does: onnxruntime-node's would download a CUDA provider (and fail here without the .npmrc), the
    // optional tfjs-node packages' fail and are left out, as npm does with optional dependencies.
    const { stdout } = await run('npm', ['ci', '--offline', '--foreground-scripts'], {
      cwd: dir,
      env: { ...env, npm_config_dangerously_allow_all_scripts: 'true' },
      maxBuffer: 1 << 26,
    });
    assert.match(stdout, /> onnxruntime-node@\S+ postinstall/, 'the install step of onnxruntime-node ran');
    const versions = await run(
      process.execPath,
      ['-e', "console.log(require('onnxruntime-node').env.versions.common, require('sharp').versions.sharp)"],
      // Loaded bare, the library would start its telemetry and leave files in TMPDIR (see ml/inference/session.ts).
      { cwd: dir, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } },
    );
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    const expected = ['onnxruntime-node', 'sharp'].map((p) => lock.packages[`node_modules/${p}`]!.version!);
    assert.equal(versions.stdout.trim(), expected.join(' '));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
