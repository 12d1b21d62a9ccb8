/**
 * cross-evaluate's metrics.json: every trained model scored on every test set (the paper's Table 10). Declared
 * here, in the library, because cross-evaluate writes it while the report stage and `fer-dag report` read it,
 * and a stage folder cannot import another's.
 */

/** A test set as a column of the matrix: its name and how many images it holds. */
export interface TestSetSize {
  name: string;
  images: number;
}

/** Accuracy per group of one grouping (gender, age bucket, ethnicity, subgroup, real vs generated). */
export interface GroupAccuracy {
  groups: Record<string, { images: number; accuracy: number }>;
  /** Among groups with at least `minImages` images. */
  worst: string | null;
  best: string | null;
  gapPoints: number | null;
}

/** The groupings every cell is broken down by; `origin` is real vs generated. */
export type Grouping = 'gender' | 'age' | 'ethnicity' | 'subgroup' | 'origin';

/** One model on one test set: the Table 10 number and everything behind it, fairness view included. */
export interface CellScores {
  images: number;
  accuracy: number;
  macroF1: number;
  /** Bootstrap intervals, [low, high]. */
  intervals: { accuracy: number[]; macroF1: number[] };
  perClassRecall: Record<string, number | null>;
  confusion: number[][];
  normalisedConfusion: number[][];
  groups: Record<Grouping, GroupAccuracy>;
}

export interface Gain {
  /** Accuracy of A minus accuracy of B, in points (× 100), on the same images. */
  points: number;
  interval: [number, number];
  /** Whether the interval leaves out zero: the gain is not the luck of this test set. */
  real: boolean;
}

/** The paper's argument: the merged model's gain over each other model on the summary test set. */
export interface Generalisation {
  testSet: string;
  mergedModel: string;
  gainsInPoints: Record<string, Gain>;
}

export interface CrossEvaluationMetrics {
  classes: readonly string[];
  models: string[];
  testSets: TestSetSize[];
  /** cells[model][testSet] */
  cells: Record<string, Record<string, CellScores>>;
  generalisation: Generalisation;
}
