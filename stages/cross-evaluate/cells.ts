import type { Hash } from '../../cache/hash.js';
import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import type { ManifestRecord } from '../../datasets/record.js';
import type { Rng } from '../../lib/random.js';
import { accuracyByGroup, accuracyGain, bootstrapIntervals, classificationMetrics, type Gain, type GroupAccuracy } from './metrics.js';

const round = (x: number) => Number(x.toFixed(4));
const argmax = (row: Float32Array) => row.reduce((best, p, i) => (p > (row[best] as number) ? i : best), 0);

function labelsAndPredictions(records: readonly ManifestRecord[], probabilities: ReadonlyMap<Hash, Float32Array>) {
  const truth = records.map((r) => EMOTIONS.indexOf(r.label as Emotion));
  const bad = records.find((_, i) => (truth[i] as number) < 0);
  if (bad) throw new Error(`test image ${bad.source} ${bad.origPath} has label "${bad.label}", not one of ${EMOTIONS.join(', ')}`);
  const predicted = records.map((r) => {
    const row = probabilities.get(r.blob);
    if (!row) throw new Error(`no prediction for ${r.source} ${r.origPath}`);
    return argmax(row);
  });
  return { truth, predicted };
}

const roundedGroups = (g: GroupAccuracy) => ({
  groups: Object.fromEntries(Object.entries(g.groups).map(([k, v]) => [k, { images: v.images, accuracy: round(v.accuracy) }])),
  worst: g.worst, best: g.best, gapPoints: g.gapPoints === null ? null : round(g.gapPoints),
});

/** One model on one test set: the Table 10 number and everything behind it, fairness view included. */
export function scoreCell(records: readonly ManifestRecord[], probabilities: ReadonlyMap<Hash, Float32Array>, options: { resamples: number; confidence: number; minGroupImages: number; random: Rng }) {
  const { truth, predicted } = labelsAndPredictions(records, probabilities);
  const m = classificationMetrics(truth, predicted, EMOTIONS.length);
  const intervals = bootstrapIntervals(truth, predicted, EMOTIONS.length, options);
  const by = (of: (r: ManifestRecord) => string | undefined) => roundedGroups(accuracyByGroup(records.map(of), truth, predicted, options.minGroupImages));
  return {
    images: m.images,
    accuracy: round(m.accuracy),
    macroF1: round(m.macroF1),
    intervals: { accuracy: intervals.accuracy.map(round), macroF1: intervals.macroF1.map(round) },
    perClassRecall: Object.fromEntries(EMOTIONS.map((e, i) => [e, m.perClassRecall[i] === null ? null : round(m.perClassRecall[i] as number)])),
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
  set: { name: string; records: ManifestRecord[] }, merged: string, models: readonly string[],
  predictions: ReadonlyMap<string, ReadonlyMap<Hash, Float32Array>>, options: { resamples: number; confidence: number; random: Rng },
) {
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

interface Table10Input {
  models: string[];
  testSets: Array<{ name: string; images: number }>;
  cells: Record<string, Record<string, ReturnType<typeof scoreCell>>>;
  generalisation: ReturnType<typeof generalisation>;
}

/** table10.md: the accuracy matrix (rows: models, columns: test sets) with intervals, then the gains. */
export function table10Markdown(m: Table10Input): string {
  const pct = (x: number) => (100 * x).toFixed(1);
  const out = ['# cross-evaluate', '', 'Accuracy (%) with its 95 % bootstrap interval; rows: models, columns: test sets.', ''];
  out.push(`| model | ${m.testSets.map((s) => `${s.name} (${s.images})`).join(' | ')} |`, `|---|${m.testSets.map(() => '---:').join('|')}|`);
  for (const model of m.models) {
    out.push(`| ${model} | ${m.testSets.map((s) => {
      const c = m.cells[model]![s.name]!;
      return `${pct(c.accuracy)} [${pct(c.intervals.accuracy[0]!)}, ${pct(c.intervals.accuracy[1]!)}]`;
    }).join(' | ')} |`);
  }
  const g = m.generalisation;
  out.push('', `Gain of ${g.mergedModel} on ${g.testSet}, in accuracy points:`, '');
  for (const [model, gain] of Object.entries(g.gainsInPoints)) {
    out.push(`- over ${model}: ${gain.points >= 0 ? '+' : ''}${gain.points.toFixed(2)} [${gain.interval[0].toFixed(2)}, ${gain.interval[1].toFixed(2)}] — ${gain.real ? 'real (the interval leaves out 0)' : 'not shown (the interval holds 0)'}`);
  }
  out.push('', 'Worst group per model on each test set (accuracy %, gap to the best group in points):', '');
  for (const model of m.models) {
    for (const s of m.testSets) {
      const c = m.cells[model]![s.name]!;
      const sub = c.groups.subgroup;
      if (sub.worst) out.push(`- ${model} on ${s.name}: subgroup ${sub.worst} ${pct(sub.groups[sub.worst]!.accuracy)} (gap ${sub.gapPoints?.toFixed(1)}); real ${c.groups.origin.groups.real ? pct(c.groups.origin.groups.real.accuracy) : '–'}, generated ${c.groups.origin.groups.generated ? pct(c.groups.origin.groups.generated.accuracy) : '–'}`);
    }
  }
  return out.join('\n') + '\n';
}
