import type { InputView } from '../../engine/stage.js';
import { canonicalEmotion, type Emotion } from '../vocabulary.js';

export type Split = 'train' | 'val' | 'test';

/** Where an image's bytes come from: a file of the source, or raw gray/RGB pixels (a CSV row). */
export type ImageBytes =
  | { kind: 'file'; rel: string }
  | { kind: 'pixels'; width: number; height: number; channels: 1 | 3; read(): Uint8Array | string };

export interface SourceImage {
  /** The image's name inside its source: a relative path, or `file.csv:LINE` for a CSV row. */
  origPath: string;
  /** The label as the source wrote it (folder name, numeric id). */
  sourceLabel: string;
  label: Emotion;
  bytes: ImageBytes;
  /** A split the source itself declares (train/test folders; FER2013's Usage). */
  split?: Split;
  /** Extra fields the source ships, kept in the manifest record (e.g. FER2013's `usage`). */
  fields?: Record<string, string>;
  /** Who the face is, where the source says (RAF-DB's manual gender, race and age range), for agr. */
  annotations?: Record<string, string | number>;
}

export interface SkippedInput {
  origPath: string;
  reason: string;
  /** When one entry stands for many files (a whole unknown folder). */
  count?: number;
}

/** What a format reader found in one source: usable images, non-emotion classes dropped, bad input skipped. */
export interface SourceListing {
  images: SourceImage[];
  /** Images of known non-canonical classes (contempt, AffectNet's none/uncertain/no-face), by class. */
  dropped: Record<string, number>;
  skipped: SkippedInput[];
}

export interface DatasetOptions {
  labels?: Record<string, string | null>;
  labelFile?: string;
  imageDir?: string;
  [key: string]: unknown;
}

/** Reads a source's listing; a reader that streams a large file answers a promise. */
export type FormatReader = (view: InputView, options: DatasetOptions) => SourceListing | Promise<SourceListing>;

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp']);

export function extensionOf(rel: string): string {
  const dot = rel.lastIndexOf('.');
  return dot < 0 ? '' : rel.slice(dot).toLowerCase();
}

/** A class name through the user's `labels:` map first, then the common spellings. */
export function resolveLabel(name: string, labels: DatasetOptions['labels']): Emotion | null | undefined {
  if (labels && Object.prototype.hasOwnProperty.call(labels, name)) {
    const mapped = labels[name];
    if (mapped === null || mapped === undefined) return null;
    return canonicalEmotion(mapped) ?? undefined;
  }
  return canonicalEmotion(name);
}

export function emptyListing(): SourceListing {
  return { images: [], dropped: {}, skipped: [] };
}

export function countDropped(listing: SourceListing, label: string, n = 1): void {
  listing.dropped[label] = (listing.dropped[label] ?? 0) + n;
}

const SPLIT_NAMES: Record<string, Split> = {
  train: 'train',
  training: 'train',
  train_set: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  val_set: 'val',
  test: 'test',
  testing: 'test',
  test_set: 'test',
};

export function splitFolder(name: string): Split | undefined {
  return SPLIT_NAMES[name.toLowerCase()];
}
