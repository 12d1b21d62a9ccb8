import type { EntryProblem } from '../../engine/stage.js';

/** Fractions may be written 0.8/0.1/0.1 or as thirds; anything further from 1 than this is a mistake. */
export const SPLIT_SUM_TOLERANCE = 1e-6;

/** The split fractions must add up to 1, which JSON Schema cannot say: `validate` refuses them at their line. */
export function splitProblems(params: { split: Record<string, number> }): EntryProblem[] {
  const fractions = Object.entries(params.split);
  const sum = fractions.reduce((a, [, f]) => a + f, 0);
  if (Math.abs(sum - 1) <= SPLIT_SUM_TOLERANCE) return [];
  const listed = fractions.map(([s, f]) => `${s} ${f}`).join(', ');
  const message = `adds up to ${Number(sum.toFixed(6))}, not 1 (${listed}); make the fractions sum to 1`;
  return [{ path: ['params', 'split'], message }];
}
