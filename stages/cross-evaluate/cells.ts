import type { Hash } from '../../cache/hash.js';
import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import type { ManifestRecord } from '../../datasets/record.js';
import type { Rng } from '../../lib/random.js';
import type { CellScores, Gain, Generalisation, GroupAccuracy } from '../../report/evaluation-metrics.js';
import { accuracyByGroup, accuracyGain, bootstrapIntervals, classificationMetrics } from './metrics.js';

const round = (x: number) => Number(x.toFixed(4));
const argmax = (row: Float32Array) => row.reduce((best, p, i) => (p > (row[best] as number) ? i : best), 0);

function labelsAndPredictions(records: readonly ManifestRecord[], probabilities: ReadonlyMap<Hash, Float32Array>) {
  const truth = records.map((r) => EMOTIONS.indexOf(r.label as Emotion));
  const bad = records.find((_, i) => (truth[i] as number) < 0);
  if (bad)
    throw new Error(
      `test image ${bad.source} ${bad.origPath} has label "${bad.label}", not one of ${EMOTIONS.join(', ')}`,
    );
  const predicted = records.map((r) => {
    const row = probabilities.get(r.blob);
    if (!row) throw new Error(`no prediction for ${r.source} ${r.origPath}`);
    return argmax(row);
  });
  return { truth, predicted };
}

const roundedGroups = (g: GroupAccuracy): GroupAccuracy => ({
  groups: Object.fromEntries(
    Object.entries(g.groups).map(([k, v]) => [k, { images: v.images, accuracy: round(v.accuracy) }]),
  ),
  worst: g.worst,
  best: g.best,
  gapPoints: g.gapPoints === null ? null : round(g.gapPoints),
});

/** One model on one test set: the Table 10 number and everything behind it, fairness view included. */
export function scoreCell(
  records: readonly ManifestRecord[],
  probabilities: ReadonlyMap<Hash, Float32Array>,
  options: { resamples: number; confidence: number; minGroupImages: number; random: Rng },
): CellScores {
  const { truth, predicted } = labelsAndPredictions(records, probabilities);
  const m = classificationMetrics(truth, predicted, EMOTIONS.length);
  const intervals = bootstrapIntervals(truth, predicted, EMOTIONS.length, options);
  const by = (of: (r: ManifestRecord) => string | undefined) =>
    roundedGroups(accuracyByGroup(records.map(of), truth, predicted, options.minGroupImages));
  return {
    images: m.images,
    accuracy: round(m.accuracy),
    macroF1: round(m.macroF1),
    intervals: { accuracy: intervals.accuracy.map(round), macroF1: intervals.macroF1.map(round) },
    perClassRecall: Object.fromEntries(
      EMOTIONS.map((e, i) => [e, m.perClassRecall[i] === null ? null : round(m.perClassRecall[i] as number)]),
    ),
    confusion: m.confusion,
    normalisedConfusion: m.normalisedConfusion.map((row) => row.map(round)),
    groups: {
      gender: by((r) => r.gender),
      age: by((r) => r.age),
      ethnicity: by((r) => r.ethnicity),
      subgroup: by((r) => r.subgroup),
      origin: by((r) => (r.synthetic ? 'generated' : 'real')),
    },
  };
}

/** The paper's argument: each model on the summary set, and the merged model's gain over each other one. */
export function generalisation(
  set: { name: string; records: ManifestRecord[] },
  merged: string,
  models: readonly string[],
  predictions: ReadonlyMap<string, ReadonlyMap<Hash, Float32Array>>,
  options: { resamples: number; confidence: number; random: Rng },
): Generalisation {
  const of = (model: string) => labelsAndPredictions(set.records, predictions.get(model)!);
  const mergedRun = of(merged);
  const gains: Record<string, Gain> = {};
  for (const model of models) {
    if (model === merged) continue;
    const g = accuracyGain(mergedRun.truth, mergedRun.predicted, of(model).predicted, options);
    gains[model] = { points: round(g.points), interval: [round(g.interval[0]), round(g.interval[1])], real: g.real };
  }
  return { testSet: set.name, mergedModel: merged, gainsInPoints: gains };
}
