import type { Box } from './track.js';

export interface FaceResult {
  box: Box;
  person: number;
  emotion: string;
  /** The winning class's probability. */
  score: number;
  scores: Record<string, number>;
  /** blazeface's confidence that this is a face. */
  detection: number;
}

export interface FrameResult {
  t: number;
  faces: FaceResult[];
}

export interface Segment {
  from: number;
  to: number;
  emotion: string;
}

export interface PersonSummary {
  person: number;
  first: number;
  last: number;
  frames: number;
  /** The emotion seen most often (ties: the earlier class). */
  emotion: string;
  shares: Record<string, number>;
  timeline: Segment[];
}

/** Results are kept to `digits` decimals: the JSON stays readable and a rerun compares equal. */
export const round = (x: number, digits = 3) => Number(x.toFixed(digits));

function shares(emotions: readonly string[], classes: readonly string[]): Record<string, number> {
  const counts = Object.fromEntries(classes.map((c) => [c, 0])) as Record<string, number>;
  for (const e of emotions) counts[e] = (counts[e] ?? 0) + 1;
  return Object.fromEntries(
    classes.map((c) => [c, emotions.length ? round((counts[c] as number) / emotions.length) : 0]),
  );
}

function dominant(share: Record<string, number>, classes: readonly string[]): string {
  return classes.reduce((best, c) => ((share[c] as number) > (share[best] as number) ? c : best), classes[0] as string);
}

/**
 * Each person's emotion over time: runs of the same label become one segment, which lasts until the next
 * sample; a person unseen for longer than `maxGap` seconds has a hole in the timeline rather than a stretch.
 */
export function summarisePeople(
  frames: readonly FrameResult[],
  classes: readonly string[],
  step: number,
  maxGap: number,
): PersonSummary[] {
  const seen = new Map<number, Array<{ t: number; emotion: string }>>();
  for (const frame of frames) {
    for (const face of frame.faces) {
      const list = seen.get(face.person) ?? [];
      list.push({ t: frame.t, emotion: face.emotion });
      seen.set(face.person, list);
    }
  }
  return [...seen.entries()]
    .sort(([a], [b]) => a - b)
    .map(([person, samples]) => {
      const timeline: Segment[] = [];
      samples.forEach((sample, i) => {
        const next = samples[i + 1];
        const to = next && next.t - sample.t <= maxGap ? next.t : sample.t + step;
        const last = timeline[timeline.length - 1];
        if (last && last.emotion === sample.emotion && last.to === round(sample.t)) last.to = round(to);
        else timeline.push({ from: round(sample.t), to: round(to), emotion: sample.emotion });
      });
      const share = shares(
        samples.map((s) => s.emotion),
        classes,
      );
      return {
        person,
        first: round(samples[0]!.t),
        last: round(samples[samples.length - 1]!.t),
        frames: samples.length,
        emotion: dominant(share, classes),
        shares: share,
        timeline,
      };
    });
}

/** The share of each emotion over every face of every frame. */
export function emotionShares(frames: readonly FrameResult[], classes: readonly string[]): Record<string, number> {
  return shares(
    frames.flatMap((f) => f.faces.map((face) => face.emotion)),
    classes,
  );
}

/** One row per face: time, person, box, emotion and every class's probability. */
export function framesCsv(frames: readonly FrameResult[], classes: readonly string[]): string {
  const header = ['t', 'person', 'x', 'y', 'width', 'height', 'emotion', 'score', ...classes.map((c) => `p_${c}`)];
  const rows = frames.flatMap((frame) =>
    frame.faces.map((face) =>
      [frame.t, face.person, ...face.box, face.emotion, face.score, ...classes.map((c) => face.scores[c] ?? 0)].join(
        ',',
      ),
    ),
  );
  return [header.join(','), ...rows].join('\n') + '\n';
}
