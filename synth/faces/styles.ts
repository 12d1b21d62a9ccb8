import type { Expression } from './attributes.js';
import type { Emotion } from '../../datasets/vocabulary.js';
import { chance, uniform, type Rng } from '../../lib/random.js';

export type StyleName = 'fer2013' | 'nhfi' | 'affectnet';
/** How the merge stage loads the style's output (the dataset formats of the pipeline file). */
export type DatasetFormat = 'fer2013-csv' | 'folders' | 'affectnet';

/** One imitated source dataset: its pixel format, framing, look (its domain shift) and on-disk labels. */
export interface Style {
  readonly name: StyleName;
  readonly format: DatasetFormat;
  readonly size: number;
  readonly channels: 1 | 3;
  /** Face frame zoom: > 1 crops tighter than the 200-unit frame around the head. */
  readonly zoom: number;
  /** Size multipliers per emotion when the pipeline gives no `classSkew`, after the real dataset's imbalance. */
  readonly defaultSkew: Partial<Record<Emotion, number>>;
  /**
   * The label as the source spells it: a folder name, or (FER2013) the numeric id; undefined for contempt in
   * FER2013.
   */
  sourceLabel(label: Expression): string | undefined;
  background(rng: Rng): string;
  /** Draws the per-image look: applied to the raster by `finish`. */
  look(rng: Rng): Look;
}

export interface Look {
  /** Gaussian blur, in pixels at the style's native size (0: none). */
  blur: number;
  /** Contrast around mid-gray (1: unchanged) and a brightness shift in gray levels. */
  contrast: number;
  brightness: number;
  /** Darkening towards one side, 0 … 1, and which side (-1 left, 1 right). */
  sideLight: number;
  side: number;
  /** Per-channel gains (a colour cast) and noise standard deviation in gray levels. */
  gains: [number, number, number];
  noise: number;
}

const FER2013_IDS: Record<Emotion, number> = {
  angry: 0,
  disgust: 1,
  fear: 2,
  happy: 3,
  sad: 4,
  surprise: 5,
  neutral: 6,
};
const NHFI_FOLDERS: Record<Expression, string> = {
  angry: 'anger',
  contempt: 'contempt',
  disgust: 'disgust',
  fear: 'fear',
  happy: 'happy',
  neutral: 'neutrality',
  sad: 'sad',
  surprise: 'surprise',
};
const AFFECTNET_IDS: Record<Expression, number> = {
  neutral: 0,
  happy: 1,
  sad: 2,
  surprise: 3,
  fear: 4,
  disgust: 5,
  angry: 6,
  contempt: 7,
};

const gray = (level: number) => `rgb(${level},${level},${level})`;
const plainLook: Look = { blur: 0, contrast: 1, brightness: 0, sideLight: 0, side: 1, gains: [1, 1, 1], noise: 0 };

/** HSL to an SVG colour; AffectNet backgrounds are anything from walls to crowds, so any hue. */
function hsl(h: number, s: number, l: number): string {
  return `hsl(${Math.round(h)},${Math.round(s)}%,${Math.round(l)}%)`;
}

export const STYLES: Record<StyleName, Style> = {
  // FER2013: 48×48 gray web crops, tight around the face, washed out and soft.
  fer2013: {
    name: 'fer2013',
    format: 'fer2013-csv',
    size: 48,
    channels: 1,
    zoom: 1.32,
    defaultSkew: { disgust: 0.3, happy: 1.5, surprise: 0.8 },
    sourceLabel: (label) => (label === 'contempt' ? undefined : String(FER2013_IDS[label])),
    background: (rng) => `<rect width="200" height="200" fill="${gray(Math.round(uniform(rng, 40, 220)))}"/>`,
    look: (rng) => ({
      ...plainLook,
      blur: uniform(rng, 0.35, 0.8),
      contrast: uniform(rng, 0.45, 0.8),
      brightness: uniform(rng, -25, 25),
      noise: uniform(rng, 3, 8),
    }),
  },
  // NHFI: 224×224 gray, studio-like plain backgrounds lit from one side.
  nhfi: {
    name: 'nhfi',
    format: 'folders',
    size: 224,
    channels: 1,
    zoom: 1.08,
    defaultSkew: { happy: 1.5, disgust: 0.6, neutral: 0.6, fear: 0.7 },
    sourceLabel: (label) => NHFI_FOLDERS[label],
    background: (rng) => `<rect width="200" height="200" fill="${gray(Math.round(uniform(rng, 150, 235)))}"/>`,
    look: (rng) => ({
      ...plainLook,
      contrast: uniform(rng, 0.95, 1.2),
      sideLight: uniform(rng, 0.25, 0.55),
      side: chance(rng, 0.5) ? -1 : 1,
      noise: uniform(rng, 1, 4),
    }),
  },
  // AffectNet: 224×224 colour, a wider crop showing shoulders, busy coloured backgrounds and colour casts.
  affectnet: {
    name: 'affectnet',
    format: 'affectnet',
    size: 224,
    channels: 3,
    zoom: 0.82,
    defaultSkew: { happy: 2, neutral: 1.5, disgust: 0.5, fear: 0.6 },
    sourceLabel: (label) => String(AFFECTNET_IDS[label]),
    background: (rng) => {
      const hue = uniform(rng, 0, 360);
      const blob = `<circle cx="${Math.round(uniform(rng, 0, 200))}" cy="${Math.round(uniform(rng, 0, 120))}" r="${Math.round(uniform(rng, 30, 80))}" fill="${hsl(hue + uniform(rng, 60, 180), uniform(rng, 20, 70), uniform(rng, 25, 80))}"/>`;
      return `<rect width="200" height="200" fill="${hsl(hue, uniform(rng, 20, 70), uniform(rng, 30, 80))}"/>${blob}`;
    },
    look: (rng) => ({
      ...plainLook,
      contrast: uniform(rng, 0.85, 1.15),
      brightness: uniform(rng, -15, 15),
      noise: uniform(rng, 1, 4),
      gains: [uniform(rng, 0.85, 1.15), uniform(rng, 0.85, 1.15), uniform(rng, 0.85, 1.15)],
    }),
  },
};
