import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import type { ManifestRecord } from '../../datasets/record.js';
import type { LabelIssue } from './confident-learning.js';

/** What reclassify-inputs does with a label issue: fix the label, drop the image, or only report it. */
export type Policy = 'relabel' | 'prune' | 'report';

export interface PolicyOutcome {
  records: ManifestRecord[];
  relabelled: ManifestRecord[];
  pruned: ManifestRecord[];
}

/**
 * Applies a policy to the issues found among `records` (issue.index points into it). A relabelled record
 * keeps its old label in `labelHistory`, so every change can be audited image by image; a pruned one is
 * left out of the output and listed. Records are never mutated: the input manifest stays as it was.
 */
export function applyPolicy(
  records: readonly ManifestRecord[],
  issues: readonly LabelIssue[],
  policy: Policy,
  stage: string,
): PolicyOutcome {
  const byIndex = new Map(issues.map((issue) => [issue.index, issue]));
  const out: ManifestRecord[] = [];
  const relabelled: ManifestRecord[] = [];
  const pruned: ManifestRecord[] = [];
  records.forEach((record, index) => {
    const issue = byIndex.get(index);
    if (!issue || policy === 'report') {
      out.push(record);
    } else if (policy === 'prune') {
      pruned.push(record);
    } else {
      const to = EMOTIONS[issue.suggested] as Emotion;
      const changed: ManifestRecord = {
        ...record,
        label: to,
        labelHistory: [...(record.labelHistory ?? []), { stage, from: record.label, to, confidence: issue.confidence }],
      };
      out.push(changed);
      relabelled.push(changed);
    }
  });
  return { records: out, relabelled, pruned };
}

/** Counts [old label][new label] over the images kept (Table 1's original vs reclassified, by class pair). */
export function transitionMatrix(before: readonly ManifestRecord[], after: readonly ManifestRecord[]): number[][] {
  const matrix = EMOTIONS.map(() => EMOTIONS.map(() => 0));
  const newLabel = new Map(after.map((r) => [r.blob, r.label]));
  for (const record of before) {
    const to = newLabel.get(record.blob);
    if (to === undefined) continue;
    const row = matrix[EMOTIONS.indexOf(record.label)] as number[];
    row[EMOTIONS.indexOf(to)] = (row[EMOTIONS.indexOf(to)] as number) + 1;
  }
  return matrix;
}
