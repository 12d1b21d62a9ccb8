import type { AgeBucket, Ethnicity, Gender } from '../faces/attributes.js';
import { AGE_BUCKETS, ageBucket, type AgeThresholds } from './buckets.js';
import { GEAR_ETHNICITIES } from './attribute-models.js';

export const GENDERS: readonly Gender[] = ['female', 'male'];
export const ETHNICITIES: readonly Ethnicity[] = GEAR_ETHNICITIES;

/** An image's gender, age and ethnicity, whoever gave them. */
export interface Attributes {
  gender: Gender;
  age: AgeBucket;
  ageYears?: number;
  ethnicity: Ethnicity;
}

/**
 * The attributes a source shipped with an image (merge keeps them as the record's `annotations`), or
 * undefined when it shipped none or not all three. Ages in years are bucketed with the stage's thresholds,
 * so a source's own bucket is used only when it gives no years.
 */
export function annotatedAttributes(annotations: Record<string, string | number> | undefined, t: AgeThresholds): Attributes | undefined {
  if (!annotations) return undefined;
  const { gender, age, ageYears, ethnicity } = annotations;
  if (!GENDERS.includes(gender as Gender) || !ETHNICITIES.includes(ethnicity as Ethnicity)) return undefined;
  if (typeof ageYears === 'number' && Number.isFinite(ageYears)) {
    return { gender: gender as Gender, age: ageBucket(ageYears, t), ageYears, ethnicity: ethnicity as Ethnicity };
  }
  if (!AGE_BUCKETS.includes(age as AgeBucket)) return undefined;
  return { gender: gender as Gender, age: age as AgeBucket, ethnicity: ethnicity as Ethnicity };
}

export interface AttributeAgreement {
  /** Images with both an annotation and a prediction. */
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
export function agreement(pairs: ReadonlyArray<{ annotated: Attributes; predicted: Attributes }>): Agreement {
  const table = <K extends 'gender' | 'age' | 'ethnicity'>(key: K, values: readonly string[]): AttributeAgreement => {
    const confusion = Object.fromEntries(values.map((a) => [a, Object.fromEntries(values.map((p) => [p, 0]))])) as Record<string, Record<string, number>>;
    let agree = 0;
    for (const { annotated, predicted } of pairs) {
      (confusion[annotated[key]] as Record<string, number>)[predicted[key]]! += 1;
      if (annotated[key] === predicted[key]) agree++;
    }
    return { images: pairs.length, agree, accuracy: pairs.length ? Number((agree / pairs.length).toFixed(4)) : 0, confusion };
  };
  const withYears = pairs.filter((p) => p.annotated.ageYears !== undefined && p.predicted.ageYears !== undefined);
  const mae = withYears.reduce((sum, p) => sum + Math.abs((p.annotated.ageYears as number) - (p.predicted.ageYears as number)), 0) / withYears.length;
  return {
    gender: table('gender', GENDERS),
    age: table('age', AGE_BUCKETS),
    ethnicity: table('ethnicity', ETHNICITIES),
    ageYearsMeanAbsoluteError: withYears.length ? Number(mae.toFixed(2)) : null,
  };
}
