import type { Hash } from '../cache/hash.js';
import type { Emotion } from './vocabulary.js';

/** One image of a dataset artifact: a line of `manifest.jsonl` (docs/design.md, "Dataset records"). */
export interface ManifestRecord {
  blob: Hash;
  source: string;
  origPath: string;
  label: Emotion;
  sourceLabel: string;
  width: number;
  height: number;
  channels: number;
  format: string;
  synthetic: boolean;
  split?: string;
  usage?: string;
  /** The true label, where a generated source knows it (its given label may be deliberately wrong). */
  trueLabel?: string;
  /** Attributes a source ships (the demo generator's drawn ones), for agr's `attributes: annotations`. */
  annotations?: Record<string, string | number>;
  /** Every relabelling of this image, oldest first (reclassify-inputs). */
  labelHistory?: LabelChange[];
  /** From agr on: who the face is (docs/design.md, "Vocabularies"), and how that was known. */
  gender?: string;
  age?: string;
  ageYears?: number;
  ethnicity?: string;
  attributes?: AttributeSource;
  /** From distribute on: `gender-age-ethnicity`; `split` is then distribute's, and the source's own is kept here. */
  subgroup?: string;
  sourceSplit?: string;
  /** From a quality stage on: its near-duplicate cluster (its first blob); distribute keeps it in one split. */
  duplicateCluster?: string;
  /** From a quality stage on: what it flagged (noFace, severalFaces, blank, exposure, outlier). */
  qualityFlags?: string[];
  /** A generated image (balance-with-synthesis): what it was asked for and by whom, to regenerate or audit it. */
  prompt?: string;
  negativePrompt?: string;
  seed?: number;
  generator?: string;
  attempt?: number;
}

/** Where an image's gender, age and ethnicity came from (agr). */
export interface AttributeSource {
  from: 'annotations' | 'models' | 'requested';
  /** With `from: models`, the attributes the source annotated itself, which were kept over the models' answer. */
  annotated?: Array<'gender' | 'age' | 'ethnicity'>;
  /** The models' probabilities, each attribute's own. */
  scores?: { gender: Record<string, number>; ethnicity: Record<string, number>; age?: Record<string, number> };
  /** The face the models saw, where the detector had to find it: [x, y, width, height] and its score. */
  face?: { box: [number, number, number, number]; score: number };
  /** Why the image has no attributes: the detector found no face, or several. */
  flag?: 'no-face' | 'several-faces';
  faces?: Array<{ box: [number, number, number, number]; score: number }>;
}

/** One relabelling of an image (reclassify-inputs). */
export interface LabelChange {
  stage: string;
  from: Emotion;
  to: Emotion;
  /** The model's probability of the new label. */
  confidence: number;
}
