import * as os from 'node:os';
import type { Hash } from '../../cache/hash.js';
import { BACKBONES, type BackboneName } from '../architectures/backbone.js';
import { mapBounded } from '../../lib/parallel/map-bounded.js';
import { inShard } from '../../lib/shard.js';
import { WorkerPool } from '../../lib/parallel/pool.js';
import type { StageContext } from '../../engine/stage.js';
import type { BackendChoice } from '../runtime.js';
import { runtimeKeyPart } from '../inference/model.js';
import { stageModelStore } from '../human/inference.js';
import { describePlans, planHumanModels, type RuntimeParams } from '../human/plan.js';
import type { Example } from './examples.js';
import type { FeaturesReply, FeaturesRequest } from './features-worker.js';
import type { ExampleSource } from './fit.js';
import type { Batch } from './replicas.js';

/** Bumped when the way features are computed from an image changes (decoding, preprocessing). */
const FEATURES_VERSION = 1;
const IMAGES_PER_REQUEST = 16;

/** Feature vectors kept as blobs in the store; training reads them back by hash. */
class FeatureSource implements ExampleSource {
  constructor(
    private readonly featureOf: Map<Hash, Hash>,
    private readonly readBlob: (hash: Hash) => Buffer,
    readonly exampleSize: number,
  ) {}

  async batch(examples: readonly Example[]): Promise<Batch> {
    const x = new Float32Array(examples.length * this.exampleSize);
    const labels = new Int32Array(examples.length);
    examples.forEach((example, i) => {
      const bytes = this.readBlob(this.featureOf.get(example.blob) as Hash);
      x.set(new Float32Array(bytes.buffer, bytes.byteOffset, this.exampleSize), i * this.exampleSize);
      labels[i] = example.label;
    });
    return { x, labels };
  }
}

/**
 * Runs the frozen backbone over every image not yet in the per-item memo (keyed by image blob, backbone
 * file hashes, preprocessing and FEATURES_VERSION), on one worker per core. A second training run with other head
 * params, or K-fold models in reclassify-inputs, reuse the features instead of recomputing them.
 */
export async function backboneFeatures(
  ctx: StageContext<unknown>,
  backend: BackendChoice,
  runtime: RuntimeParams,
  backbone: BackboneName,
  examples: readonly Example[],
): Promise<{ source: ExampleSource; featureSize: number; computed: number; memoised: number }> {
  const memo = ctx.memo('backbone-features');
  // The backbone's files, as the engine hashed them for the stage key (train's modelFiles): a new model
  // version computes new features, and nothing is hashed twice.
  const model = ctx.modelHashes;
  const { featureSize, preprocessing } = BACKBONES[backbone];
  const plans = await planHumanModels([BACKBONES[backbone].model], runtime, backend, stageModelStore(ctx));
  const plan = plans[BACKBONES[backbone].model]!;
  // Runtimes round differently, so features made on one are not another's.
  const keyOf = (blob: Hash) => ({
    blob,
    backbone,
    model,
    preprocessing,
    version: FEATURES_VERSION,
    ...runtimeKeyPart(plan.runtime),
  });
  const featureOf = new Map<Hash, Hash>();
  const todo: Hash[] = [];
  for (const blob of new Set(examples.map((e) => e.blob))) {
    if (ctx.shard && !inShard(blob, ctx.shard)) continue; // another shard's image (see engine/stage.ts)
    const known = memo.get<{ feature: Hash }>(keyOf(blob));
    if (known && ctx.output.tryReference(known.feature)) featureOf.set(blob, known.feature);
    else todo.push(blob);
  }
  const memoised = featureOf.size;
  ctx.log(`${backbone} features: ${memoised} memoised, ${todo.length} to compute (${describePlans(plans)})`);
  if (todo.length) {
    const workers = Math.min(os.availableParallelism(), Math.ceil(todo.length / IMAGES_PER_REQUEST));
    const pool = new WorkerPool<FeaturesRequest, FeaturesReply>(
      new URL('./features-worker.js', import.meta.url),
      workers,
      2,
    );
    const chunks: Hash[][] = [];
    for (let i = 0; i < todo.length; i += IMAGES_PER_REQUEST) chunks.push(todo.slice(i, i + IMAGES_PER_REQUEST));
    let done = 0;
    try {
      await mapBounded(chunks, pool.capacity, async (chunk) => {
        const images = chunk.map((b) => ctx.readBlob(b));
        const replies = await pool.run({ backbone, backend, runtime, workers, plan, images });
        replies.forEach((reply, i) => {
          const blob = chunk[i] as Hash;
          if (!(reply instanceof Float32Array)) throw new Error(`image ${blob}: ${reply.error}`);
          const feature = ctx.output.putBlob(new Uint8Array(reply.buffer, reply.byteOffset, reply.byteLength));
          memo.set(keyOf(blob), { feature }, [feature]);
          featureOf.set(blob, feature);
        });
        done += chunk.length;
        ctx.progress(done, todo.length, `${backbone} features`);
      });
    } finally {
      await pool.close();
    }
  }
  const source = new FeatureSource(featureOf, (hash) => ctx.readBlob(hash), featureSize);
  return { source, featureSize, computed: todo.length, memoised };
}
