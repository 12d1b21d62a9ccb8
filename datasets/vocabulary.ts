/** Canonical emotions; the index is the class id everywhere in fer-dag (docs/design.md, "Vocabularies"). */
export const EMOTIONS = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'] as const;
export type Emotion = (typeof EMOTIONS)[number];

/** Who a face is, as agr records it and distribute balances it (the paper's 2 × 4 × 5 = 40 subgroups). */
export const GENDERS = ['female', 'male'] as const;
export type Gender = (typeof GENDERS)[number];
/** Age buckets, youngest first; where each begins is a stage param (see age-buckets.ts). */
export const AGE_BUCKETS = ['child', 'young', 'adult', 'old'] as const;
export type AgeBucket = (typeof AGE_BUCKETS)[number];
export const ETHNICITIES = ['white', 'black', 'asian', 'indian', 'others'] as const;
export type Ethnicity = (typeof ETHNICITIES)[number];

/** The 40 subgroup names, `gender-age-ethnicity`, gender first then age then ethnicity in vocabulary order. */
export const SUBGROUPS: readonly string[] = GENDERS.flatMap((g) =>
  AGE_BUCKETS.flatMap((a) => ETHNICITIES.map((e) => `${g}-${a}-${e}`)),
);

export function subgroupOf(record: { gender?: string; age?: string; ethnicity?: string }): string | undefined {
  return record.gender && record.age && record.ethnicity
    ? `${record.gender}-${record.age}-${record.ethnicity}`
    : undefined;
}

export function emotionId(emotion: Emotion): number {
  return EMOTIONS.indexOf(emotion);
}

export function isEmotion(name: string): name is Emotion {
  return (EMOTIONS as readonly string[]).includes(name);
}

/**
 * Class names as datasets spell them. `null` marks a known class that has no canonical emotion (contempt,
 * AffectNet's none/uncertain/no-face): such images are dropped and counted, not reported as errors.
 */
const SPELLINGS: Record<string, Emotion | null> = {
  angry: 'angry',
  anger: 'angry',
  mad: 'angry',
  disgust: 'disgust',
  disgusted: 'disgust',
  disgusting: 'disgust',
  fear: 'fear',
  fearful: 'fear',
  afraid: 'fear',
  scared: 'fear',
  happy: 'happy',
  happiness: 'happy',
  joy: 'happy',
  neutral: 'neutral',
  neutrality: 'neutral',
  calm: 'neutral',
  sad: 'sad',
  sadness: 'sad',
  surprise: 'surprise',
  surprised: 'surprise',
  suprise: 'surprise',
  contempt: null,
  none: null,
  uncertain: null,
  'no-face': null,
  noface: null,
};

/** Canonical emotion for a class name in any common spelling; null = known non-emotion; undefined = unknown. */
export function canonicalEmotion(name: string): Emotion | null | undefined {
  const key = name.trim().toLowerCase();
  if (Object.prototype.hasOwnProperty.call(SPELLINGS, key)) return SPELLINGS[key];
  const letters = key.replace(/[^a-z]/g, ''); // "No_Face", "Happy " and "SURPRISED!" all resolve
  return Object.prototype.hasOwnProperty.call(SPELLINGS, letters) ? SPELLINGS[letters] : undefined;
}

/**
 * Source label orders (docs/stages/datasets.md, "labels"): the classic bug is reading one dataset's ids in
 * another's order, so each order is written out once, here, and tested.
 */
export const FER2013_IDS: readonly Emotion[] = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
export const AFFECTNET_IDS: readonly (Emotion | 'contempt' | 'none' | 'uncertain' | 'no-face')[] = [
  'neutral',
  'happy',
  'sad',
  'surprise',
  'fear',
  'disgust',
  'angry',
  'contempt',
  'none',
  'uncertain',
  'no-face',
];
/** RAF-DB basic emotion ids are 1-based. */
export const RAFDB_IDS: Readonly<Record<number, Emotion>> = {
  1: 'surprise',
  2: 'fear',
  3: 'disgust',
  4: 'happy',
  5: 'sad',
  6: 'angry',
  7: 'neutral',
};
