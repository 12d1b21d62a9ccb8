/**
 * reclassify-inputs' report.json, per source: what confident learning found and what became of it. Declared
 * here, in the library, because reclassify-inputs writes it and the report stage reads it, and a stage
 * folder cannot import another's.
 */

/** One detect→retrain round as report.json lists it. */
export interface RoundRecord {
  /** 0 is the model trained on the labels as given. */
  round: number;
  /**
   * Share of all the source's images whose out-of-fold prediction matches the label they came with, for
   * the models trained on this round's labels; null where no model was retrained on them.
   */
  heldOutAccuracy: number | null;
  /** Where the records carry their true label (the demo generator's), the same against the truth. */
  trueAccuracy?: number;
  /** Issues confident learning found on the previous round's probabilities, and what the policy did. */
  issues: number;
  relabelled: number;
  pruned: number;
  /**
   * Whether this round's labels were kept: its held-out accuracy beat the best before it (or nothing was
   * retrained).
   */
  kept: boolean;
}

/** Detection scored against the truth, where a generated source knows it. */
export interface TruthScore {
  mislabelled: number;
  flagged: number;
  truePositives: number;
  precision: number;
  recall: number;
  /** Of the mislabelled images the stage relabelled, the share now carrying their true label. */
  relabelledToTruth: number | null;
  /** Share of the source's kept images whose label is the true one, before and after. */
  labelAccuracy: { before: number; after: number };
}

/** One source's entry under `sources` in report.json; per-emotion tables are keyed by emotion. */
export interface SourceReclassification {
  images: number;
  issues: number;
  relabelled: number;
  pruned: number;
  rounds: RoundRecord[];
  /** Per emotion, confident learning's threshold; null where the class had no images to set one. */
  thresholds: Record<string, number | null>;
  confidentJoint: number[][];
  /** labelMatrix[old][new]: images per old → new label, in EMOTIONS order. */
  labelMatrix: number[][];
  prunedPerClass: Record<string, number>;
  perClass: { original: Record<string, number>; reclassified: Record<string, number> };
  truth?: TruthScore;
}
