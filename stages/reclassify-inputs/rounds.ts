import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { findLabelIssues, type LabelIssue } from './confident-learning.js';
import { applyPolicy, type Policy } from './policy.js';
import type { RoundRecord } from '../../report/reclassification.js';

/**
 * Class probabilities for every record of one source (in order), each from a model that did not train on
 * it; `labels[i]` is what record i is currently believed to be, null for a pruned record (predicted, never
 * trained on). Cross-validation retrains for every new labelling; a pretrained oracle ignores the labels.
 */
export type ProbabilityOracle = (labels: ReadonlyArray<number | null>) => Promise<Float32Array[]>;

export interface RoundsOptions {
  policy: Policy;
  /** How many detect rounds at most; each is followed by a retrain that decides whether it is kept. */
  iterations: number;
  /** An issue is acted on only when the model's probability of the suggested class is at least this. */
  minConfidence: number;
  /** False for an oracle that does not learn from the labels (pretrained): one detection, nothing to retrain. */
  retrains: boolean;
  stage: string;
}

export interface SourceIssue extends LabelIssue {
  round: number;
}

export interface RoundsResult {
  records: ManifestRecord[];
  pruned: ManifestRecord[];
  rounds: RoundRecord[];
  /** Every issue found in the kept rounds, `index` pointing into the input records. */
  issues: SourceIssue[];
  /** Thresholds t_j and confident joint of the first detection, on the labels as given. */
  thresholds: number[];
  confidentJoint: number[][];
  /** The out-of-fold probabilities of the labels as given (index = input record). */
  firstProbabilities: Float32Array[];
}

const labelIndex = (record: ManifestRecord): number => EMOTIONS.indexOf(record.label as Emotion);

function accuracy(probabilities: readonly Float32Array[], labels: readonly number[]): number {
  let correct = 0;
  probabilities.forEach((p, i) => {
    let best = 0;
    for (let j = 1; j < p.length; j++) if ((p[j] as number) > (p[best] as number)) best = j;
    if (best === labels[i]) correct++;
  });
  return correct / Math.max(1, probabilities.length);
}

/**
 * Confident learning, iterated as the paper iterates its reclassification: find label issues on
 * out-of-fold probabilities, apply the policy, retrain on the new labels, and keep the new labels only
 * when the held-out accuracy improves; stop at the first round that does not, or after `iterations`.
 *
 * The held-out accuracy is always scored against the labels the source came with, over all its images,
 * each predicted by a model that never saw it: scored against the corrected labels, a round would be
 * graded by its own answers. With noise that does not favour one wrong class, accuracy against noisy
 * labels rises and falls with accuracy against the truth.
 */
export async function reclassifyRounds(
  input: readonly ManifestRecord[],
  oracle: ProbabilityOracle,
  options: RoundsOptions,
): Promise<RoundsResult> {
  const given = input.map(labelIndex);
  const truth = input.every((r) => r.trueLabel !== undefined)
    ? input.map((r) => EMOTIONS.indexOf(r.trueLabel as Emotion))
    : undefined;
  const score = (probabilities: Float32Array[]) => ({
    heldOutAccuracy: accuracy(probabilities, given),
    ...(truth ? { trueAccuracy: accuracy(probabilities, truth) } : {}),
  });

  let records: Array<ManifestRecord | null> = [...input];
  let probabilities = await oracle(given);
  const firstProbabilities = probabilities;
  let best = score(probabilities).heldOutAccuracy;
  const rounds: RoundRecord[] = [
    { round: 0, ...score(probabilities), issues: 0, relabelled: 0, pruned: 0, kept: true },
  ];
  const issues: SourceIssue[] = [];
  let first: { thresholds: number[]; confidentJoint: number[][] } | undefined;

  for (let round = 1; round <= options.iterations; round++) {
    // Pruned records leave the detection (their labels no longer count) but stay predicted for the score.
    const live = records.flatMap((r, i) => (r ? [i] : []));
    const found = findLabelIssues(
      live.map((i) => probabilities[i] as Float32Array),
      live.map((i) => labelIndex(records[i] as ManifestRecord)),
      EMOTIONS.length,
    );
    first ??= { thresholds: found.thresholds, confidentJoint: found.confidentJoint };
    const liveIssues = found.issues.filter((issue) => issue.confidence >= options.minConfidence);
    const acted = liveIssues.map((issue) => ({ ...issue, index: live[issue.index] as number, round }));
    const outcome = applyPolicy(
      live.map((i) => records[i] as ManifestRecord),
      liveIssues,
      options.policy,
      options.stage,
    );
    // Merge keeps one record per blob, so the blob names a record within its source.
    const after = new Map(outcome.records.map((r) => [r.blob, r]));
    const proposal = records.map((r) => (r ? (after.get(r.blob) ?? null) : null));

    const entry: RoundRecord = {
      round,
      heldOutAccuracy: null,
      issues: acted.length,
      relabelled: outcome.relabelled.length,
      pruned: outcome.pruned.length,
      kept: true,
    };
    if (outcome.relabelled.length + outcome.pruned.length === 0 || !options.retrains) {
      // Nothing to retrain on (policy report, or no issues), or nothing that would learn from it (a pretrained oracle).
      rounds.push(entry);
      issues.push(...acted);
      records = proposal;
      break;
    }
    const retrained = await oracle(proposal.map((r) => (r ? labelIndex(r) : null)));
    const scored = score(retrained);
    const improved = scored.heldOutAccuracy > best;
    rounds.push({ ...entry, ...scored, kept: improved });
    if (!improved) break;
    best = scored.heldOutAccuracy;
    records = proposal;
    probabilities = retrained;
    issues.push(...acted);
  }
  const kept = records.filter((r): r is ManifestRecord => r !== null);
  const pruned = input.filter((_, i) => records[i] === null);
  return {
    records: kept,
    pruned,
    rounds,
    issues,
    thresholds: first?.thresholds ?? [],
    confidentJoint: first?.confidentJoint ?? [],
    firstProbabilities,
  };
}
