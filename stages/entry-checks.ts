import type { EntryProblem, StageEntry } from '../engine/stage.js';

/**
 * Cross-field checks of stage entries that JSON Schema cannot express. `validate` runs them, so a spec whose
 * fractions or thresholds do not fit together is refused at its line, not three stages into a run.
 */

/** Fractions may be written 0.8/0.1/0.1 or as thirds; anything further from 1 than this is a mistake. */
export const SPLIT_SUM_TOLERANCE = 1e-6;

export function splitProblems(entry: StageEntry): EntryProblem[] {
  const split = (entry.params as { split?: Record<string, number> } | undefined)?.split ?? {};
  const fractions = Object.entries(split);
  const sum = fractions.reduce((a, [, f]) => a + f, 0);
  if (Math.abs(sum - 1) <= SPLIT_SUM_TOLERANCE) return [];
  const listed = fractions.map(([s, f]) => `${s} ${f}`).join(', ');
  const message = `adds up to ${Number(sum.toFixed(6))}, not 1 (${listed}); make the fractions sum to 1`;
  return [{ path: ['params', 'split'], message }];
}

export function ageBucketProblems(entry: StageEntry): EntryProblem[] {
  const t = (entry.params as { ageBuckets?: { young: number; adult: number; old: number } } | undefined)?.ageBuckets;
  if (!t || (t.young < t.adult && t.adult < t.old)) return [];
  return [{ path: ['params', 'ageBuckets'], message: `must rise: young ${t.young} < adult ${t.adult} < old ${t.old}` }];
}

/** A synthesizer of type command needs its command, one of type http its servers. */
export function synthesizerProblems(entry: StageEntry): EntryProblem[] {
  type Synthesizer = { type?: string; command?: string[]; servers?: string[] };
  const s = (entry.params as { synthesizer?: Synthesizer } | undefined)?.synthesizer;
  if (s?.type === 'command' && !s.command) {
    return [
      {
        path: ['params', 'synthesizer'],
        message: 'has type command but no command: give command: [program, arg, …]',
      },
    ];
  }
  if (s?.type === 'http' && !s.servers) {
    const message =
      'has type http but no servers: give servers: [http://host:port, …] (AUTOMATIC1111 started with --api)';
    return [{ path: ['params', 'synthesizer'], message }];
  }
  return [];
}
