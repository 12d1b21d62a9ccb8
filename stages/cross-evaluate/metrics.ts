import type { Rng } from '../../lib/random.js';
import type { Gain, GroupAccuracy } from '../../report/evaluation-metrics.js';

/**
 * Scores of one model on one test set, from class ids (EMOTIONS order). Written out here rather than taken
 * from a library because every definition matters for the paper's Table 10 and must be stated:
 * - accuracy: share of images whose predicted class is their label;
 * - per-class recall: correct / images of the class, null for a class with no images;
 * - macro-F1: the mean F1 over the classes that occur as a label or as a prediction (scikit-learn's default
 *   label set); a class never predicted has precision 0/0, counted as 0, so its F1 is 0, and a class with no
 *   images but some predictions has recall 0/0 → 0 and F1 0; a class in neither is left out;
 * - the confusion matrix counts[true][predicted], and normalised by row (each true class sums to 1; a class
 *   with no images keeps a row of zeros).
 */
export interface ClassMetrics {
  images: number;
  accuracy: number;
  macroF1: number;
  perClassRecall: Array<number | null>;
  perClassF1: Array<number | null>;
  confusion: number[][];
  normalisedConfusion: number[][];
}

export function classificationMetrics(
  truth: readonly number[],
  predicted: readonly number[],
  classes: number,
): ClassMetrics {
  if (truth.length !== predicted.length) throw new Error(`${truth.length} labels but ${predicted.length} predictions`);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  truth.forEach((t, i) => {
    const p = predicted[i] as number;
    if (!(t >= 0 && t < classes) || !(p >= 0 && p < classes))
      throw new Error(`class ids must be 0…${classes - 1}: label ${t}, prediction ${p} at ${i}`);
    (confusion[t] as number[])[p]!++;
  });
  const correct = confusion.reduce((sum, row, c) => sum + (row[c] as number), 0);
  const support = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const predictedCount = Array.from({ length: classes }, (_, c) =>
    confusion.reduce((sum, row) => sum + (row[c] as number), 0),
  );
  const perClassRecall = support.map((n, c) => (n ? ((confusion[c] as number[])[c] as number) / n : null));
  const perClassF1 = support.map((n, c) => {
    if (n === 0 && predictedCount[c] === 0) return null;
    const tp = (confusion[c] as number[])[c] as number;
    const precision = predictedCount[c] ? tp / (predictedCount[c] as number) : 0;
    const recall = n ? tp / n : 0;
    return precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  });
  const scored = perClassF1.filter((f): f is number => f !== null);
  return {
    images: truth.length,
    accuracy: truth.length ? correct / truth.length : 0,
    macroF1: scored.length ? scored.reduce((a, b) => a + b, 0) / scored.length : 0,
    perClassRecall,
    perClassF1,
    confusion,
    normalisedConfusion: confusion.map((row, c) => row.map((v) => (support[c] ? v / (support[c] as number) : 0))),
  };
}

/** The central `confidence` share of `values` (sorted in place): percentile bounds, nearest rank. */
function percentileInterval(values: number[], confidence: number): [number, number] {
  values.sort((a, b) => a - b);
  const tail = (1 - confidence) / 2;
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.floor(q * values.length)))] as number;
  return [at(tail), at(1 - tail)];
}

/** One bootstrap resample: n indices drawn with replacement. */
function resample(n: number, random: Rng): Int32Array {
  const indices = new Int32Array(n);
  for (let i = 0; i < n; i++) indices[i] = Math.floor(random() * n);
  return indices;
}

export interface Intervals {
  accuracy: [number, number];
  macroF1: [number, number];
}

/** Percentile bootstrap intervals of accuracy and macro-F1: `resamples` test sets drawn with replacement. */
export function bootstrapIntervals(
  truth: readonly number[],
  predicted: readonly number[],
  classes: number,
  options: { resamples: number; confidence: number; random: Rng },
): Intervals {
  const accuracy: number[] = [];
  const macroF1: number[] = [];
  for (let b = 0; b < options.resamples; b++) {
    const idx = resample(truth.length, options.random);
    const m = classificationMetrics(
      Array.from(idx, (i) => truth[i] as number),
      Array.from(idx, (i) => predicted[i] as number),
      classes,
    );
    accuracy.push(m.accuracy);
    macroF1.push(m.macroF1);
  }
  return {
    accuracy: percentileInterval(accuracy, options.confidence),
    macroF1: percentileInterval(macroF1, options.confidence),
  };
}

/**
 * How much better model A is than model B on one test set, with a paired bootstrap: each resample draws the
 * same images for both, so the interval reflects the difference, not each model's own noise.
 */
export function accuracyGain(
  truth: readonly number[],
  a: readonly number[],
  b: readonly number[],
  options: { resamples: number; confidence: number; random: Rng },
): Gain {
  const hitsA = truth.map((t, i) => (a[i] === t ? 1 : 0));
  const hitsB = truth.map((t, i) => (b[i] === t ? 1 : 0));
  const n = truth.length;
  const difference = (idx: ArrayLike<number>) => {
    let sum = 0;
    for (let k = 0; k < idx.length; k++)
      sum += (hitsA[idx[k] as number] as number) - (hitsB[idx[k] as number] as number);
    return (100 * sum) / n;
  };
  const draws: number[] = [];
  for (let r = 0; r < options.resamples; r++) draws.push(difference(resample(n, options.random)));
  const interval = percentileInterval(draws, options.confidence);
  return {
    points: difference(Array.from({ length: n }, (_, i) => i)),
    interval,
    real: interval[0] > 0 || interval[1] < 0,
  };
}

/** Accuracy per group (gender, age bucket, ethnicity, subgroup, real vs generated), its worst and best, and the gap. */
export function accuracyByGroup(
  groupOf: ReadonlyArray<string | undefined>,
  truth: readonly number[],
  predicted: readonly number[],
  minImages: number,
): GroupAccuracy {
  const tally = new Map<string, { images: number; correct: number }>();
  groupOf.forEach((group, i) => {
    if (group === undefined) return;
    const t = tally.get(group) ?? { images: 0, correct: 0 };
    t.images++;
    if (truth[i] === predicted[i]) t.correct++;
    tally.set(group, t);
  });
  const groups = Object.fromEntries(
    [...tally.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([g, t]) => [g, { images: t.images, accuracy: t.correct / t.images }]),
  );
  const eligible = Object.entries(groups).filter(([, g]) => g.images >= minImages);
  if (!eligible.length) return { groups, worst: null, best: null, gapPoints: null };
  const worst = eligible.reduce((a, b) => (b[1].accuracy < a[1].accuracy ? b : a));
  const best = eligible.reduce((a, b) => (b[1].accuracy > a[1].accuracy ? b : a));
  return { groups, worst: worst[0], best: best[0], gapPoints: 100 * (best[1].accuracy - worst[1].accuracy) };
}
