/**
 * Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty in Dataset
 * Labels", JAIR 2021), the label-issue finder of the reclassify-inputs stage. Given out-of-fold predicted
 * probabilities (each image predicted by a model that never saw it) and the given labels:
 *
 * - per class j, the threshold t_j is the mean predicted p(j) over the images labelled j: how confident the
 *   model is, on average, about that class where the label says it is right;
 * - an image counts as confidently class j when p(j) ≥ t_j (among several such classes, the one with the
 *   highest p); the confident joint C[given][confident] counts images by both;
 * - the images in off-diagonal cells are the label issues, ranked by self-confidence p(given label), the
 *   least confident first. An image above no threshold is not counted and never an issue.
 */

export interface LabelIssue {
  /** Position of the image in the input arrays. */
  index: number;
  given: number;
  /** The class the image is confidently predicted as. */
  suggested: number;
  /** p(given label): the lower, the surer the label is wrong. */
  selfConfidence: number;
  /** p(suggested class). */
  confidence: number;
}

export interface ConfidentLearning {
  thresholds: number[];
  /** [given label][confident class] counts. */
  confidentJoint: number[][];
  issues: LabelIssue[];
}

export function findLabelIssues(
  probabilities: ReadonlyArray<ArrayLike<number>>,
  labels: readonly number[],
  classes: number,
): ConfidentLearning {
  if (probabilities.length !== labels.length)
    throw new Error(`${probabilities.length} probability rows for ${labels.length} labels`);
  const sums = new Array<number>(classes).fill(0);
  const counts = new Array<number>(classes).fill(0);
  labels.forEach((label, k) => {
    sums[label] = (sums[label] as number) + ((probabilities[k] as ArrayLike<number>)[label] as number);
    counts[label] = (counts[label] as number) + 1;
  });
  // A class nobody is labelled with has no evidence of what "confident" means for it: never confident.
  const thresholds = sums.map((sum, j) => ((counts[j] as number) > 0 ? sum / (counts[j] as number) : Infinity));
  const confidentJoint = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  const issues: LabelIssue[] = [];
  labels.forEach((given, index) => {
    const p = probabilities[index] as ArrayLike<number>;
    let confident = -1;
    for (let j = 0; j < classes; j++) {
      if (
        (p[j] as number) >= (thresholds[j] as number) &&
        (confident < 0 || (p[j] as number) > (p[confident] as number))
      )
        confident = j;
    }
    if (confident < 0) return;
    const row = confidentJoint[given] as number[];
    row[confident] = (row[confident] as number) + 1;
    if (confident !== given) {
      issues.push({
        index,
        given,
        suggested: confident,
        selfConfidence: p[given] as number,
        confidence: p[confident] as number,
      });
    }
  });
  issues.sort((a, b) => a.selfConfidence - b.selfConfidence || a.index - b.index);
  return { thresholds, confidentJoint, issues };
}
