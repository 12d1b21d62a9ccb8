import { hashJson, type Hash } from '../../cache/hash.js';
import { deriveSeed } from '../../lib/random.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import type { ManifestRecord } from '../../datasets/record.js';
import type { ReclassifyParams } from './params.js';
import type { Example } from '../../ml/training/examples.js';
import type { StageContext } from '../../engine/stage.js';
import { resolveBackendChoice } from '../../ml/backend-choice.js';
import type { FoldPool } from '../../ml/training/fold-pool.js';

/**
 * Where reclassify-inputs gets its probabilities: K fold models trained on the source (memoised per
 * labelling and per fold), or the pretrained FER2013 model (memoised per image).
 */

/**
 * How far the stage is, in image-trainings: each round of a source counts its images once, and at most
 * `iterations + 1` rounds run, so the bar moves evenly across sources of any size and an early stop
 * jumps it forward rather than back.
 */
export interface Tally {
  trained: number;
  memoised: number;
  done: number;
  total: number;
}

/**
 * Out-of-fold probabilities by cross-validation for one source, memoised per labelling: the key holds
 * everything the K models depend on (images, their labels, folds, model and training params, seed,
 * backend, backbone files), so a rerun with another policy or confidence threshold retrains only for
 * labellings it has not trained on before.
 */
export async function crossValidationOracle(
  ctx: StageContext<ReclassifyParams>,
  source: string,
  examples: Example[],
  tally: Tally,
  pool: () => FoldPool,
) {
  const p = ctx.params;
  const [{ assignFolds, outOfFoldProbabilities }, { prepareArch }, { TRAINING_VERSION }] = await Promise.all([
    import('./out-of-fold.js'),
    import('../../ml/training/prepare.js'),
    import('../../ml/training/fit.js'),
  ]);
  const foldOf = assignFolds(examples, p.folds, ctx.random(`folds ${source}`));
  let prepared: Awaited<ReturnType<typeof prepareArch>> | undefined;
  const memo = ctx.memo('reclassify-out-of-fold');
  const seed = deriveSeed(ctx.seed, source);
  return async (labels: ReadonlyArray<number | null>): Promise<Float32Array[]> => {
    // Hashed once: the whole labelling and its folds are looked up under this digest.
    const key = {
      labelling: hashJson({
        blobs: examples.map((e) => e.blob),
        labels,
        foldOf,
        folds: p.folds,
        model: p.model,
        seed,
        backend: resolveBackendChoice(p.backend),
        // Transfer folds train on backbone features, which each inference runtime rounds its own way.
        ...(p.model.arch === 'transfer' ? { inference: p.runtime.provider } : {}),
        // Transfer heads train one thread a fold (fold-pool.ts), with no replicas.
        ...(p.model.arch === 'transfer' ? { trainer: 'thread per fold' } : { replicas: p.replicas }),
        modelFiles: ctx.modelHashes,
        training: TRAINING_VERSION,
      }),
    };
    const known = memo.get<{ probabilities: Hash }>(key);
    if (known && ctx.output.tryReference(known.probabilities)) {
      tally.memoised += p.folds;
      tally.done += examples.length;
      ctx.log(`${source}: ${p.folds} fold models memoised for this labelling, none trained`);
      return splitRows(ctx.readBlob(known.probabilities));
    }
    ctx.log(`${source}: training ${p.folds} fold models`);
    prepared ??= await prepareArch(ctx as StageContext<unknown>, p.model, p, examples);
    const relabelled = examples.map((e, i) => ({ ...e, label: labels[i] ?? e.label }));
    const { model: m } = p;
    // Each finished fold is kept too, so a run stopped in fold 4 resumes there.
    const foldMemo = {
      get: (fold: number) => {
        const hit = memo.get<{ probabilities: Hash }>({ ...key, fold });
        if (!hit || !ctx.output.tryReference(hit.probabilities)) return undefined;
        tally.memoised++;
        ctx.log(`${source}: fold ${fold + 1} was trained by an earlier, interrupted run; its predictions are reused`);
        return splitRows(ctx.readBlob(hit.probabilities));
      },
      set: (fold: number, rows: Float32Array[]) => {
        const probabilities = ctx.output.putBlob(joinRows(rows));
        memo.set({ ...key, fold }, { probabilities }, [probabilities]);
        tally.trained++;
      },
    };
    const rows = await outOfFoldProbabilities(
      relabelled,
      foldOf,
      labels.map((l) => l !== null),
      prepared.source,
      {
        folds: p.folds,
        spec: prepared.spec,
        replicas: p.replicas,
        pool,
        backend: p.backend,
        seed,
        validationSplit: m.validationSplit,
        random: (fold) => ctx.random(`training ${source} fold ${fold}`),
        foldMemo,
        fit: {
          epochs: m.epochs,
          batchSize: m.batchSize,
          learningRate: m.learningRate,
          reduceLr: m.reduceLr,
          flip: prepared.flip,
          signal: ctx.signal,
          progress: (done, total, note) =>
            ctx.progress(tally.done + Math.round((examples.length * done) / total), tally.total, `${source}: ${note}`),
          log: () => {},
        },
      },
    );
    const probabilities = ctx.output.putBlob(joinRows(rows));
    memo.set(key, { probabilities }, [probabilities]);
    tally.done += examples.length;
    return rows;
  };
}

/** The pretrained FER2013 model's probabilities, memoised per image; the labels do not change them. */
export async function pretrainedOracle(ctx: StageContext<ReclassifyParams>, source: string, records: ManifestRecord[]) {
  const { emotionOracleProbabilities, EMOTION_ORACLE_MODEL, EMOTION_ORACLE_PREPROCESSING } =
    await import('../../ml/human/emotion-oracle.js');
  const memo = ctx.memo('emotion-oracle');
  const { planHumanModels, describePlans } = await import('../../ml/human/plan.js');
  const { stageModelStore } = await import('../../ml/human/inference.js');
  const { runtimeKeyPart } = await import('../../ml/inference/model.js');
  const p = ctx.params;
  const plans = await planHumanModels([EMOTION_ORACLE_MODEL], p.runtime, p.backend, stageModelStore(ctx));
  const plan = plans[EMOTION_ORACLE_MODEL]!;
  const keyOf = (blob: Hash) => ({
    blob,
    model: ctx.modelHashes,
    preprocessing: EMOTION_ORACLE_PREPROCESSING,
    ...runtimeKeyPart(plan.runtime),
  });
  const rows = new Map<Hash, Float32Array>();
  const todo = records.filter((r) => {
    const known = memo.get<number[]>(keyOf(r.blob));
    if (known) rows.set(r.blob, Float32Array.from(known));
    return !known;
  });
  ctx.log(
    `${source}: ${rows.size} pretrained predictions memoised, ${todo.length} to compute (${describePlans(plans)})`,
  );
  const failed: Array<{ index: number; blob: Hash; error: string }> = [];
  // Memoised as each request returns: a stopped run keeps every image it scored.
  await emotionOracleProbabilities(todo.length, (i) => ctx.readBlob((todo[i] as ManifestRecord).blob), {
    backend: p.backend,
    runtime: p.runtime,
    plan,
    progress: (done, total) => ctx.progress(done, total, `${source}: pretrained emotion model`),
    onResult: (i, score) => {
      const blob = (todo[i] as ManifestRecord).blob;
      if (score instanceof Float32Array) {
        memo.set(keyOf(blob), Array.from(score));
        rows.set(blob, score);
      } else {
        failed.push({ index: i, blob, error: score.error });
      }
    },
  });
  // Requests finish in any order; the report lists failures in manifest order.
  failed.sort((a, b) => a.index - b.index);
  return { rows, failed: failed.map(({ blob, error }) => ({ blob, error })) };
}

function joinRows(rows: readonly Float32Array[]): Uint8Array {
  const all = new Float32Array(rows.length * EMOTIONS.length);
  rows.forEach((row, i) => all.set(row, i * EMOTIONS.length));
  return new Uint8Array(all.buffer);
}

function splitRows(bytes: Buffer): Float32Array[] {
  // A copy: a Buffer's offset need not be 4-byte aligned; the rows are then views, not further copies.
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return Array.from({ length: all.length / EMOTIONS.length }, (_, i) =>
    all.subarray(i * EMOTIONS.length, (i + 1) * EMOTIONS.length),
  );
}
