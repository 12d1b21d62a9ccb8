import type { Expression } from './attributes.js';
import { chance, uniform, type Rng } from '../../lib/random.js';

/**
 * The muscle-level cues of an expression, in units of the 200-unit face frame (y grows downwards).
 * Offsets are from the neutral face, so intensity can scale them; cues are large on purpose, because the
 * faces are also seen at 48×48 and a cue thinner than a pixel disappears.
 */
export interface ExpressionShape {
  /** Vertical offset of each brow's inner and outer end (negative: raised); arch lifts the middle. */
  browInner: number;
  browOuter: number;
  browArch: number;
  /** Inner brow ends pulled towards the midline (corrugator, anger and fear). */
  browPinch: number;
  /** Opening of the eyes (1: neutral), and how far the lower lid rises (0 … 1, a squint). */
  eyeOpen: number;
  lowerLid: number;
  mouth: MouthShape;
  /** 0 … 1 strength of each wrinkle group. */
  glabella: number;
  noseWrinkles: number;
  foreheadLines: number;
  smileLines: number;
  tears: boolean;
}

/** A mouth: two corners and two edges (upper and lower lip lines) given by their height at the middle. */
export interface MouthShape {
  halfWidth: number;
  /** Corner heights (negative: raised); left and right differ for disgust and contempt. */
  left: number;
  right: number;
  upper: number;
  lower: number;
  /** Shifts the lips' middle sideways (-1 … 1): a one-sided lip raise. */
  skew: number;
  /** Drawn as an ellipse (a surprised "O") instead of two lip lines. */
  round: boolean;
  teeth: 'none' | 'upper' | 'both';
  /** Stroke width of a closed mouth: pressed lips are thick. */
  lineWidth: number;
}

const NEUTRAL: ExpressionShape = {
  browInner: 0,
  browOuter: 0,
  browArch: 3,
  browPinch: 0,
  eyeOpen: 1,
  lowerLid: 0,
  mouth: { halfWidth: 23, left: 0, right: 0, upper: 0, lower: 0, skew: 0, round: false, teeth: 'none', lineWidth: 5 },
  glabella: 0,
  noseWrinkles: 0,
  foreheadLines: 0,
  smileLines: 0,
  tears: false,
};

type Target = Omit<ExpressionShape, 'mouth'> & { mouth: MouthShape };

/** The full-intensity target of each expression; some have variants (a closed smile or an open grin). */
function target(rng: Rng, expression: Expression): Target {
  const base = { ...NEUTRAL, mouth: { ...NEUTRAL.mouth } };
  switch (expression) {
    case 'neutral':
      return base;
    case 'happy':
      return {
        ...base,
        browInner: -3,
        browOuter: -2,
        browArch: 5,
        eyeOpen: 0.85,
        lowerLid: 0.6,
        smileLines: 0.9,
        mouth: chance(rng, 0.65)
          ? { ...base.mouth, halfWidth: 33, left: -12, right: -12, upper: 2, lower: 20, teeth: 'upper' } // open grin
          : { ...base.mouth, halfWidth: 31, left: -12, right: -12, upper: 5, lower: 5, lineWidth: 6 }, // closed smile
      };
    case 'sad':
      return {
        ...base,
        browInner: -12,
        browOuter: 5,
        browArch: -2,
        browPinch: 3,
        eyeOpen: 0.75,
        tears: chance(rng, 0.35),
        mouth: { ...base.mouth, halfWidth: 21, left: 11, right: 11, upper: -3, lower: -3, lineWidth: 6 },
      };
    case 'surprise':
      return {
        ...base,
        browInner: -16,
        browOuter: -14,
        browArch: 10,
        eyeOpen: 1.6,
        foreheadLines: 0.9,
        mouth: { ...base.mouth, halfWidth: 12, upper: -11, lower: 23, round: true },
      };
    case 'fear':
      return {
        ...base,
        browInner: -16,
        browOuter: -6,
        browArch: 1,
        browPinch: 4,
        eyeOpen: 1.55,
        foreheadLines: 0.6,
        mouth: { ...base.mouth, halfWidth: 31, left: 5, right: 5, upper: -4, lower: 11, teeth: 'both' },
      };
    case 'angry':
      return {
        ...base,
        browInner: 11,
        browOuter: -5,
        browArch: 0,
        browPinch: 5,
        eyeOpen: 0.8,
        lowerLid: 0.3,
        glabella: 1,
        mouth: chance(rng, 0.7)
          ? { ...base.mouth, halfWidth: 18, left: 3, right: 3, upper: 1, lower: 1, lineWidth: 8 } // pressed lips
          : { ...base.mouth, halfWidth: 24, left: 3, right: 3, upper: -5, lower: 7, teeth: 'both' }, // clenched teeth
      };
    case 'disgust': {
      const side = chance(rng, 0.5) ? 1 : -1; // which side of the upper lip is raised
      return {
        ...base,
        browInner: 7,
        browOuter: 2,
        browArch: 1,
        browPinch: 3,
        eyeOpen: 0.55,
        lowerLid: 0.5,
        noseWrinkles: 1,
        smileLines: 0.7,
        mouth: {
          ...base.mouth,
          halfWidth: 25,
          left: side > 0 ? 4 : -8,
          right: side > 0 ? -8 : 4,
          upper: -7,
          lower: 5,
          skew: 0.45 * side,
          teeth: 'upper',
        },
      };
    }
    case 'contempt': {
      const side = chance(rng, 0.5) ? 1 : -1; // the smirking side
      return {
        ...base,
        eyeOpen: 0.9,
        browInner: 1,
        browOuter: -3,
        mouth: {
          ...base.mouth,
          halfWidth: 25,
          left: side > 0 ? 2 : -11,
          right: side > 0 ? -11 : 2,
          skew: 0.5 * side,
          lineWidth: 6,
        },
      };
    }
  }
}

const lerp = (from: number, to: number, t: number) => from + (to - from) * t;

/** An expression at a random intensity, with small per-image jitter so no two faces are identical. */
export function drawExpression(rng: Rng, expression: Expression): ExpressionShape {
  const full = target(rng, expression);
  const t = expression === 'neutral' ? 1 : uniform(rng, 0.7, 1.1);
  const wobble = (v: number, amount: number) => v + uniform(rng, -amount, amount);
  const m = full.mouth;
  return {
    browInner: wobble(lerp(NEUTRAL.browInner, full.browInner, t), 1.5),
    browOuter: wobble(lerp(NEUTRAL.browOuter, full.browOuter, t), 1.5),
    browArch: wobble(lerp(NEUTRAL.browArch, full.browArch, t), 1),
    browPinch: lerp(0, full.browPinch, t),
    eyeOpen: wobble(lerp(1, full.eyeOpen, t), 0.06),
    lowerLid: lerp(0, full.lowerLid, t),
    mouth: {
      ...m,
      halfWidth: wobble(lerp(NEUTRAL.mouth.halfWidth, m.halfWidth, t), 1.5),
      left: wobble(lerp(0, m.left, t), 1),
      right: wobble(lerp(0, m.right, t), 1),
      upper: lerp(0, m.upper, t),
      lower: lerp(0, m.lower, t),
    },
    glabella: full.glabella * Math.min(1, t),
    noseWrinkles: full.noseWrinkles * Math.min(1, t),
    foreheadLines: full.foreheadLines * Math.min(1, t),
    smileLines: full.smileLines * Math.min(1, t),
    tears: full.tears,
  };
}
