import { EMOTIONS } from '../../datasets/vocabulary.js';
import type { BackendChoice } from '../../ml/runtime.js';
import { shuffle, type Rng } from '../../lib/random.js';
import { splitValidation, type Example } from '../../ml/training/examples.js';
import { fit, type ExampleSource, type FitOptions } from '../../ml/training/fit.js';
import type { ModelSpec } from '../../ml/training/model-spec.js';
import { ReplicaSet } from '../../ml/training/replicas.js';
import { FoldPool } from '../../ml/training/fold-pool.js';

/** Fold of each example: a seeded shuffle per class dealt round-robin, so every fold keeps the class mix. */
export function assignFolds(examples: readonly Example[], folds: number, random: Rng): number[] {
  const fold = new Array<number>(examples.length).fill(0);
  for (let label = 0; label < EMOTIONS.length; label++) {
    const members = shuffle(
      random,
      examples.flatMap((e, i) => (e.label === label ? [i] : [])),
    );
    members.forEach((index, position) => (fold[index] = position % folds));
  }
  return fold;
}

export interface OutOfFoldOptions {
  folds: number;
  spec: ModelSpec;
  replicas: number;
  backend: BackendChoice;
  seed: number;
  validationSplit: number;
  /**
   * Each fold's own stream (validation split, batch order), so a fold's model does not depend on which folds ran
   * before it.
   */
  random(fold: number): Rng;
  /**
   * The threads that train transfer heads, one fold each: the caller's, started on first use and kept across
   * rounds and sources; without it, threads are started for the call.
   */
  pool?: () => FoldPool;
  /** Where finished folds are kept, so an interrupted labelling resumes at the fold it was training. */
  foldMemo?: { get(fold: number): Float32Array[] | undefined; set(fold: number, rows: Float32Array[]): void };
  fit: Omit<FitOptions, 'random' | 'progress' | 'signal'> & {
    signal: AbortSignal;
    progress(done: number, total: number, note: string): void;
  };
}

/**
 * Class probabilities for every example from the one model of K that did not train on it (K-fold
 * cross-validation): the input confident learning needs, since a model's opinion of images it was fitted
 * to says little about their labels. `foldOf` is fixed by the caller (assignFolds on the labels as given),
 * so later rounds with corrected labels keep the folds; `trainable[i]` false (a pruned image) keeps example
 * i out of every training set while it is still predicted. Each fold's model starts from its own seed and
 * keeps a validation share of its training folds for the learning-rate schedule; it predicts its held-out
 * fold with its last epoch's weights. Returns one row of EMOTIONS.length probabilities per example.
 */
export async function outOfFoldProbabilities(
  examples: readonly Example[],
  foldOf: readonly number[],
  trainable: readonly boolean[] | undefined,
  source: ExampleSource,
  options: OutOfFoldOptions,
): Promise<Float32Array[]> {
  if (foldOf.length !== examples.length) throw new Error(`${foldOf.length} fold ids for ${examples.length} examples`);
  const rows = new Array<Float32Array>(examples.length);
  const plans = planFolds(examples, foldOf, trainable, options, rows);
  const classes = EMOTIONS.length;
  // Kept as each fold finishes, so a stopped run resumes with the folds it had trained.
  const finish = (plan: FoldPlan, probabilities: Float32Array) => {
    plan.heldOut.forEach((index, k) => (rows[index] = probabilities.slice(k * classes, (k + 1) * classes)));
    options.foldMemo?.set(
      plan.fold,
      plan.heldOut.map((index) => rows[index] as Float32Array),
    );
  };
  const train = options.spec.arch === 'transfer-head' ? headsOnThreads : foldsOnReplicas;
  if (plans.length) await train(examples, plans, source, options, finish);
  return rows;
}

type FoldTraining = (
  examples: readonly Example[],
  plans: FoldPlan[],
  source: ExampleSource,
  options: OutOfFoldOptions,
  finish: (plan: FoldPlan, probabilities: Float32Array) => void,
) => Promise<void>;

/** CNN folds one after another, each on `replicas` worker threads kept from fold to fold. */
const foldsOnReplicas: FoldTraining = async (examples, plans, source, options, finish) => {
  const classes = EMOTIONS.length;
  const examplesOf = (part: number[]) => part.map((row) => examples[row] as Example);
  let replicas: ReplicaSet | undefined;
  try {
    for (const plan of plans) {
      const settings = {
        spec: options.spec,
        replicas: options.replicas,
        backend: options.backend,
        seed: plan.seed,
        learningRate: options.fit.learningRate,
        exampleSize: source.exampleSize,
      };
      replicas = replicas ? await replicas.restart(settings) : await ReplicaSet.start(settings);
      const f = plan.fold;
      await fit(replicas, source, examplesOf(plan.train), examplesOf(plan.validation), {
        ...options.fit,
        random: plan.random,
        progress: (done, total, note) =>
          options.fit.progress(f * total + done, options.folds * total, `fold ${f + 1}/${options.folds}, ${note}`),
      });
      await replicas.syncMovingStats();
      const probabilities = new Float32Array(plan.heldOut.length * classes);
      const chunk = options.fit.batchSize * 2;
      for (let start = 0; start < plan.heldOut.length; start += chunk) {
        const batch = await source.batch(examplesOf(plan.heldOut.slice(start, start + chunk)));
        probabilities.set((await replicas.evaluate(batch)).probabilities, start * classes);
      }
      finish(plan, probabilities);
    }
  } finally {
    await replicas?.close();
  }
};

/** A fold still to train: the rows it predicts and trains on (indices into the examples), its stream and seed. */
interface FoldPlan {
  fold: number;
  heldOut: number[];
  train: number[];
  validation: number[];
  /** The fold's own stream: its validation split was drawn from it, its epochs' shuffles come next. */
  random: Rng;
  /** The fold model's initial weights and dropout. */
  seed: number;
}

/**
 * The folds to train; a memoised fold's probabilities go straight into `rows`. Each fold's validation share of
 * its trainable rows is drawn per class from the fold's own stream.
 */
function planFolds(
  examples: readonly Example[],
  foldOf: readonly number[],
  trainable: readonly boolean[] | undefined,
  options: OutOfFoldOptions,
  rows: Float32Array[],
): FoldPlan[] {
  const plans: FoldPlan[] = [];
  for (let fold = 0; fold < options.folds; fold++) {
    const heldOut = examples.flatMap((_, i) => (foldOf[i] === fold ? [i] : []));
    if (heldOut.length === 0) continue;
    const kept = options.foldMemo?.get(fold);
    if (kept) {
      heldOut.forEach((index, k) => (rows[index] = kept[k] as Float32Array));
      continue;
    }
    const random = options.random(fold);
    const rest = examples.flatMap((e, row) =>
      foldOf[row] !== fold && (trainable?.[row] ?? true) ? [{ label: e.label, row }] : [],
    );
    const { train, validation } = splitValidation(rest, options.validationSplit, random);
    const rowsOf = (part: typeof rest) => part.map((e) => e.row);
    plans.push({
      fold,
      heldOut,
      train: rowsOf(train),
      validation: rowsOf(validation),
      random,
      seed: (options.seed + 7919 * (fold + 1)) >>> 0,
    });
  }
  return plans;
}

/**
 * The folds of transfer heads, each trained start to finish by a thread of a FoldPool on the source's
 * features, read once into a matrix: a head's step is milliseconds, so per-step messages and reads were the
 * cost. Each fold's validation split and epoch shuffles come from its own stream, as its model from its own
 * seed, so the result does not depend on how many threads there are or which trains which fold.
 */
const headsOnThreads: FoldTraining = async (examples, plans, source, options, finish) => {
  const { x } = await source.batch(examples);
  const pool = options.pool?.() ?? FoldPool.forFolds(plans.length);
  try {
    await pool.train({
      features: x,
      exampleSize: source.exampleSize,
      labels: Int32Array.from(examples, (e) => e.label),
      spec: options.spec,
      backend: options.backend,
      fit: {
        epochs: options.fit.epochs,
        batchSize: options.fit.batchSize,
        learningRate: options.fit.learningRate,
        reduceLr: options.fit.reduceLr,
      },
      folds: plans.map(({ seed, random, train, validation, heldOut }) => ({
        seed,
        fitSeed: Math.floor(random() * 2 ** 32),
        train,
        validation,
        heldOut,
      })),
      signal: options.fit.signal,
      progress: (done, total, training) =>
        options.fit.progress(
          done,
          total,
          `fold${training.length > 1 ? 's' : ''} ${training.map((k) => plans[k - 1]!.fold + 1).join(' and ')} of ${options.folds}`,
        ),
      onFold: (k, probabilities) => finish(plans[k]!, probabilities),
    });
  } finally {
    if (!options.pool) await pool.close();
  }
};
