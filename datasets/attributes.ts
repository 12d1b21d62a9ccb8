import { ageBucket, type AgeThresholds } from './age-buckets.js';
import { AGE_BUCKETS, ETHNICITIES, GENDERS, type AgeBucket, type Ethnicity, type Gender } from './vocabulary.js';

/** An image's gender, age and ethnicity, whoever gave them. */
export interface Attributes {
  gender: Gender;
  age: AgeBucket;
  ageYears?: number;
  ethnicity: Ethnicity;
}

/**
 * What a source says about an image's face, each attribute only where it says it: ages in years are bucketed
 * with the stage's thresholds; a source's own bucket is used when it gives no years; an age range (RAF-DB's
 * 20–39) gives a bucket only when the whole range lies in one.
 */
export function annotatedPartial(
  annotations: Record<string, string | number> | undefined,
  t: AgeThresholds,
): Partial<Attributes> {
  if (!annotations) return {};
  const { gender, age, ageYears, ageMin, ageMax, ethnicity } = annotations;
  const out: Partial<Attributes> = {};
  if (GENDERS.includes(gender as Gender)) out.gender = gender as Gender;
  if (ETHNICITIES.includes(ethnicity as Ethnicity)) out.ethnicity = ethnicity as Ethnicity;
  if (typeof ageYears === 'number' && Number.isFinite(ageYears)) {
    out.age = ageBucket(ageYears, t);
    out.ageYears = ageYears;
  } else if (AGE_BUCKETS.includes(age as AgeBucket)) {
    out.age = age as AgeBucket;
  } else if (typeof ageMin === 'number' && typeof ageMax === 'number') {
    // Whole years: a range up to 39 holds everyone younger than 40.
    const [low, high] = [ageBucket(ageMin, t), ageBucket(ageMax + 0.999, t)];
    if (low === high) out.age = low;
  }
  return out;
}

/** Whether annotations give all three attributes. */
export function isComplete(partial: Partial<Attributes>): partial is Attributes {
  return Boolean(partial.gender && partial.age && partial.ethnicity);
}

/** All three attributes from the annotations, or undefined when the source did not give all three. */
export function annotatedAttributes(
  annotations: Record<string, string | number> | undefined,
  t: AgeThresholds,
): Attributes | undefined {
  const partial = annotatedPartial(annotations, t);
  return isComplete(partial) ? partial : undefined;
}

export interface AttributeAgreement {
  /** Images with both an annotation of this attribute and a prediction. */
  images: number;
  agree: number;
  accuracy: number;
  /** annotated → predicted → count. */
  confusion: Record<string, Record<string, number>>;
}

export interface Agreement {
  gender: AttributeAgreement;
  age: AttributeAgreement;
  ethnicity: AttributeAgreement;
  /** Mean absolute difference in years, where the annotation gives years. */
  ageYearsMeanAbsoluteError: number | null;
}

/** How often the models said what the annotations say, per attribute. */
export function agreement(pairs: ReadonlyArray<{ annotated: Partial<Attributes>; predicted: Attributes }>): Agreement {
  const table = <K extends 'gender' | 'age' | 'ethnicity'>(key: K, values: readonly string[]): AttributeAgreement => {
    const confusion = Object.fromEntries(
      values.map((a) => [a, Object.fromEntries(values.map((p) => [p, 0]))]),
    ) as Record<string, Record<string, number>>;
    let agree = 0;
    let images = 0;
    for (const { annotated, predicted } of pairs) {
      const given = annotated[key];
      if (given === undefined) continue;
      images++;
      (confusion[given] as Record<string, number>)[predicted[key]]! += 1;
      if (given === predicted[key]) agree++;
    }
    return { images, agree, accuracy: images ? Number((agree / images).toFixed(4)) : 0, confusion };
  };
  const withYears = pairs.filter((p) => p.annotated.ageYears !== undefined && p.predicted.ageYears !== undefined);
  const mae =
    withYears.reduce(
      (sum, p) => sum + Math.abs((p.annotated.ageYears as number) - (p.predicted.ageYears as number)),
      0,
    ) / withYears.length;
  return {
    gender: table('gender', GENDERS),
    age: table('age', AGE_BUCKETS),
    ethnicity: table('ethnicity', ETHNICITIES),
    ageYearsMeanAbsoluteError: withYears.length ? Number(mae.toFixed(2)) : null,
  };
}
