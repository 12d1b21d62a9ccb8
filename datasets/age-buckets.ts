import type { EntryProblem } from '../engine/stage.js';
import { AGE_BUCKETS, type AgeBucket } from './vocabulary.js';

/**
 * Where each age bucket begins, in years; a child is anyone younger than `young`. The defaults (15, 30, 65) are
 * the stage schemas' (schemas/stages/common.schema.json, ageBuckets); read them with `defaultParams`.
 */
export interface AgeThresholds {
  young: number;
  adult: number;
  old: number;
}

/** The bucket of an age in years: 14.9 is a child, 15 is young, 64.9 an adult, 65 old (with the defaults). */
export function ageBucket(years: number, t: AgeThresholds): AgeBucket {
  if (!Number.isFinite(years)) throw new Error(`age ${years} is not a number of years`);
  return years < t.young ? 'child' : years < t.adult ? 'young' : years < t.old ? 'adult' : 'old';
}

export function checkThresholds(t: AgeThresholds): void {
  if (!(t.young < t.adult && t.adult < t.old)) {
    throw new Error(`age thresholds must rise: young ${t.young} < adult ${t.adult} < old ${t.old}`);
  }
}

/** P(bucket) from a distribution over whole years 0, 1, …: year i counts where an age of i years falls. */
export function bucketScores(distribution: readonly number[], t: AgeThresholds): Record<AgeBucket, number> {
  const scores: Record<AgeBucket, number> = { child: 0, young: 0, adult: 0, old: 0 };
  distribution.forEach((p, year) => (scores[ageBucket(year, t)] += p));
  for (const bucket of AGE_BUCKETS) scores[bucket] = Number(scores[bucket].toFixed(4));
  return scores;
}

/** For `checkEntry` of stages with `ageBuckets`: the thresholds must rise, so `validate` refuses them early. */
export function ageBucketProblems(params: { ageBuckets: AgeThresholds }): EntryProblem[] {
  const t = params.ageBuckets;
  if (t.young < t.adult && t.adult < t.old) return [];
  return [{ path: ['params', 'ageBuckets'], message: `must rise: young ${t.young} < adult ${t.adult} < old ${t.old}` }];
}
