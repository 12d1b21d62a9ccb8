import { chance, index, uniform, weighted, type Rng } from '../../lib/random.js';

import type { AgeBucket, Emotion, Ethnicity, Gender } from '../../datasets/vocabulary.js';

/** What a face can show: the seven emotions, plus contempt, which NHFI and AffectNet have and the merge drops. */
export type Expression = Emotion | 'contempt';

/** The demographic attributes the AGR stage predicts; recorded per image so its predictions can be scored. */
export interface Person {
  gender: Gender;
  age: AgeBucket;
  ageYears: number;
  ethnicity: Ethnicity;
}

export type Rgb = [number, number, number];
export type HairStyle = 'short' | 'long' | 'bun' | 'curly' | 'bald';

/** Everything about a face that does not change with its expression. */
export interface Identity {
  person: Person;
  /** Half-width and half-height of the head, in the 200-unit face frame. */
  halfWidth: number;
  halfHeight: number;
  /** 0: tapered, rounded chin … 1: square jaw. */
  jaw: number;
  skin: Rgb;
  hair: { style: HairStyle; color: Rgb };
  brow: Rgb;
  lips: Rgb;
  beard: 'none' | 'stubble' | 'full';
  glasses: boolean;
  eyeScale: number;
}

// Skewed on purpose, like in-the-wild FER data: mostly young/adult and white/asian faces, so that picking
// 2 images per emotion from each of the 40 gender-age-ethnicity subgroups finds holes to fill.
const AGE_WEIGHTS: Record<AgeBucket, number> = { child: 0.07, young: 0.46, adult: 0.37, old: 0.1 };
const ETHNICITY_WEIGHTS: Record<Ethnicity, number> = {
  white: 0.5,
  asian: 0.24,
  black: 0.11,
  indian: 0.08,
  others: 0.07,
};
/** Share of female faces per expression: unbalanced as in the real datasets (more angry men, more fearful women). */
const FEMALE_SHARE: Record<Expression, number> = {
  angry: 0.33,
  disgust: 0.45,
  fear: 0.64,
  happy: 0.6,
  neutral: 0.48,
  sad: 0.57,
  surprise: 0.62,
  contempt: 0.4,
};
const AGE_YEARS: Record<AgeBucket, [number, number]> = {
  child: [3, 14],
  young: [15, 29],
  adult: [30, 64],
  old: [65, 90],
};

/** A person of the given subgroup, with an age in years drawn inside its bucket. */
export function personInSubgroup(rng: Rng, gender: Gender, age: AgeBucket, ethnicity: Ethnicity): Person {
  const [low, high] = AGE_YEARS[age];
  return { gender, age, ageYears: low + index(rng, high - low + 1), ethnicity };
}

export function drawPerson(rng: Rng, expression: Expression): Person {
  const gender: Gender = chance(rng, FEMALE_SHARE[expression]) ? 'female' : 'male';
  const age = weighted(rng, AGE_WEIGHTS);
  const [low, high] = AGE_YEARS[age];
  const ageYears = low + index(rng, high - low + 1);
  return { gender, age, ageYears, ethnicity: weighted(rng, ETHNICITY_WEIGHTS) };
}

const SKIN: Record<Ethnicity, Rgb[]> = {
  white: [
    [243, 210, 186],
    [234, 192, 165],
    [226, 184, 150],
  ],
  asian: [
    [236, 200, 160],
    [226, 186, 146],
    [214, 172, 132],
  ],
  indian: [
    [190, 138, 100],
    [172, 120, 84],
    [150, 104, 72],
  ],
  black: [
    [128, 86, 60],
    [104, 68, 46],
    [84, 56, 40],
  ],
  others: [
    [214, 166, 124],
    [198, 148, 108],
    [178, 130, 94],
  ],
};
const HAIR: Record<string, Rgb> = {
  black: [28, 24, 24],
  darkBrown: [64, 42, 30],
  brown: [110, 74, 44],
  blonde: [206, 170, 104],
  red: [150, 66, 34],
  grey: [158, 156, 152],
  white: [226, 224, 220],
};
const HAIR_BY_ETHNICITY: Record<Ethnicity, Record<string, number>> = {
  white: { brown: 3, darkBrown: 3, blonde: 3, black: 1, red: 1 },
  asian: { black: 6, darkBrown: 2 },
  indian: { black: 6, darkBrown: 2 },
  black: { black: 8, darkBrown: 1 },
  others: { black: 4, darkBrown: 4, brown: 1 },
};

function jitter(rng: Rng, color: Rgb, amount: number): Rgb {
  const k = uniform(rng, 1 - amount, 1 + amount);
  return color.map((c) => Math.max(0, Math.min(255, Math.round(c * k)))) as Rgb;
}

function hairStyle(rng: Rng, person: Person): HairStyle {
  if (person.gender === 'female') return weighted(rng, { long: 6, bun: 2, short: 1, curly: 2, bald: 0 });
  const bald = person.age === 'old' ? 4 : person.age === 'adult' ? 1.5 : 0;
  return weighted(rng, { short: 7, curly: 2, long: person.age === 'child' ? 0 : 0.6, bun: 0, bald });
}

export function drawIdentity(rng: Rng, person: Person): Identity {
  const shape = weighted(rng, { oval: 3, round: 2, long: 2 });
  const child = person.age === 'child';
  let halfWidth = { oval: 60, round: 65, long: 55 }[shape] + uniform(rng, -4, 4);
  let halfHeight = { oval: 78, round: 70, long: 86 }[shape] + uniform(rng, -4, 4);
  if (child) [halfWidth, halfHeight] = [halfWidth + 3, halfHeight - 8]; // rounder, shorter faces
  const tones = SKIN[person.ethnicity];
  const skin = jitter(rng, tones[index(rng, tones.length)]!, 0.06);

  const greyChance = { child: 0, young: 0.02, adult: 0.25, old: 0.9 }[person.age];
  const greyHair = chance(rng, greyChance);
  const baseHair = HAIR[weighted(rng, HAIR_BY_ETHNICITY[person.ethnicity])]!;
  const hairColor = greyHair
    ? HAIR[person.age === 'old' && chance(rng, 0.5) ? 'white' : 'grey']!
    : jitter(rng, baseHair, 0.1);
  // Brows stay darker than the hair on grey heads, so the brow angle (a key cue) keeps its contrast.
  const brow: Rgb = greyHair ? [96, 92, 88] : (baseHair.map((c) => Math.round(c * 0.6)) as Rgb);
  const lipstick = person.gender === 'female' && person.age !== 'child' && chance(rng, 0.4);
  const lips: Rgb = lipstick ? [168, 40, 56] : (skin.map((c, i) => Math.round(c * (i === 0 ? 0.8 : 0.62))) as Rgb);
  const beardChance = person.gender === 'male' && (person.age === 'adult' || person.age === 'old') ? 0.35 : 0;
  return {
    person,
    halfWidth,
    halfHeight,
    jaw: person.gender === 'male' ? uniform(rng, 0.55, 1) : uniform(rng, 0, 0.4),
    skin,
    hair: { style: hairStyle(rng, person), color: hairColor },
    brow,
    lips,
    beard: chance(rng, beardChance) ? (chance(rng, 0.5) ? 'full' : 'stubble') : 'none',
    glasses: chance(rng, { child: 0.05, young: 0.12, adult: 0.22, old: 0.45 }[person.age]),
    eyeScale: child ? 1.22 : uniform(rng, 0.92, 1.06),
  };
}
