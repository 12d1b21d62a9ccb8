import * as tf from '@tensorflow/tfjs-core';
import type { Hash } from '../cache/hash.js';
import { loadTrainedModel, modelMetadata } from './model-files.js';
import type { BackendChoice } from './runtime.js';
import type { RuntimeParams } from './inference/plan.js';
import type { Example } from './training/examples.js';
import type { ExampleSource } from './training/fit.js';
import type { InputView, StageContext } from '../engine/stage.js';

const BATCH = 64;

/**
 * Class probabilities of one train stage's model for `examples`, fed exactly as training fed it (the same
 * pixel source or memoised backbone features), memoised per (model, image): a model evaluated before on an
 * image is not run on it again, whichever test set the image is in.
 */
export async function modelProbabilities(
  ctx: StageContext<unknown>,
  view: InputView,
  examples: readonly Example[],
  backend: BackendChoice,
  runtime: RuntimeParams,
  tally: { predicted: number; memoised: number },
): Promise<Map<Hash, Float32Array>> {
  const meta = modelMetadata(view);
  const memo = ctx.memo('model-predictions');
  // A transfer head reads backbone features, which each inference runtime rounds its own way.
  const inference = meta.arch === 'transfer' && runtime.provider !== 'tfjs' ? { inference: runtime.provider } : {};
  const keyOf = (blob: Hash) => ({ model: view.treeHash, blob, ...inference });
  const result = new Map<Hash, Float32Array>();
  const todo: Example[] = [];
  const queued = new Set<Hash>();
  for (const e of examples) {
    if (result.has(e.blob)) continue;
    const known = memo.get<number[]>(keyOf(e.blob));
    if (known) {
      result.set(e.blob, Float32Array.from(known));
      tally.memoised++;
    } else if (!queued.has(e.blob)) {
      queued.add(e.blob);
      todo.push(e);
    }
  }
  tally.predicted += todo.length;
  if (!todo.length) return result;
  let source: ExampleSource;
  if (meta.arch === 'paper-cnn') {
    const { PixelSource } = await import('./training/examples.js');
    source = new PixelSource(
      (hash) => ctx.readBlob(hash),
      { inputSize: meta.inputSize as number, channels: meta.channels as 1 | 3 },
      64,
    );
  } else {
    const { backboneFeatures } = await import('./training/features.js');
    source = (await backboneFeatures(ctx, backend, runtime, meta.backbone ?? 'mobileface', todo)).source;
  }
  const model = await loadTrainedModel(view);
  const inputShape = (model.inputs[0]?.shape ?? []).slice(1) as number[];
  try {
    for (let start = 0; start < todo.length; start += BATCH) {
      const chunk = todo.slice(start, start + BATCH);
      const batch = await source.batch(chunk);
      const probabilities = tf.tidy(
        () =>
          (model.predict(tf.tensor(batch.x, [chunk.length, ...inputShape])) as tf.Tensor).dataSync() as Float32Array,
      );
      const classes = probabilities.length / chunk.length;
      chunk.forEach((e, i) => {
        // Rounded before use as well as before memoising, so a rerun from the memo scores exactly the same.
        const row = Array.from(probabilities.slice(i * classes, (i + 1) * classes), (p) => Number(p.toFixed(6)));
        result.set(e.blob, Float32Array.from(row));
        memo.set(keyOf(e.blob), row);
      });
    }
  } finally {
    model.dispose();
  }
  return result;
}
