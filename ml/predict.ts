import type { Hash } from '../cache/hash.js';
import type { RuntimeParams } from './human/plan.js';
import { loadTrainedRunner } from './trained-runner.js';
import { runtimeKeyPart } from './inference/model.js';
import { decodeFaceImage } from './human/face-image.js';
import type { Example } from './training/examples.js';
import type { InputView, StageContext } from '../engine/stage.js';

const BATCH = 64;

/**
 * Class probabilities of one train stage's model for `examples` (its model.onnx on onnxruntime, or its tfjs
 * files), fed exactly as training fed it, memoised per (model, image, runtime): a model evaluated before on an
 * image is not run on it again, whichever test set the image is in.
 */
export async function modelProbabilities(
  ctx: StageContext<unknown>,
  view: InputView,
  examples: readonly Example[],
  runtime: RuntimeParams,
  tally: { predicted: number; memoised: number },
): Promise<Map<Hash, Float32Array>> {
  const runner = await loadTrainedRunner(view, runtime);
  try {
    if (runner.passedOver) ctx.log(`${view.name} on ${runner.runtime}: ${runner.passedOver}`);
    const memo = ctx.memo('model-predictions');
    const keyOf = (blob: Hash) => ({ model: view.treeHash, blob, ...runtimeKeyPart(runner.runtime) });
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
    const meta = runner.metadata;
    // The paper CNN's pixels come from training's own PixelSource; a transfer model takes decoded images.
    const pixels =
      meta.arch === 'paper-cnn'
        ? new (await import('./training/examples.js')).PixelSource(
            (hash) => ctx.readBlob(hash),
            { inputSize: meta.inputSize as number, channels: meta.channels as 1 | 3 },
            64,
          )
        : undefined;
    for (let start = 0; start < todo.length; start += BATCH) {
      const chunk = todo.slice(start, start + BATCH);
      let input: { x: Float32Array; dims: number[] };
      if (pixels) {
        const { inputSize, channels } = meta as Required<Pick<typeof meta, 'inputSize' | 'channels'>>;
        input = { x: (await pixels.batch(chunk)).x, dims: [chunk.length, inputSize, inputSize, channels] };
      } else {
        input = await runner.prepare(await Promise.all(chunk.map((e) => decodeFaceImage(ctx.readBlob(e.blob)))));
      }
      const probabilities = await runner.run(input.x, input.dims);
      const classes = probabilities.length / chunk.length;
      chunk.forEach((e, i) => {
        // Rounded before use as well as before memoising, so a rerun from the memo scores exactly the same.
        const row = Array.from(probabilities.slice(i * classes, (i + 1) * classes), (p) => Number(p.toFixed(6)));
        result.set(e.blob, Float32Array.from(row));
        memo.set(keyOf(e.blob), row);
      });
    }
    return result;
  } finally {
    runner.dispose();
  }
}
