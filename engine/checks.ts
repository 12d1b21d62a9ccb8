import type { Hash } from '../cache/hash.js';
import type { Tree } from '../cache/tree.js';

/**
 * Checks (gates): tests of the numbers a stage reports through `setMeasures`, written on any stage entry as
 * `checks: [{ maxNoFaceShare: 0.02, severity: warn }]`. A check is not part of its stage's key: its outcome is a
 * function of the stored output (whose measures.json holds the numbers) and of the check, so changing a
 * threshold re-evaluates the stored result instead of recomputing it.
 */

/** Where the engine puts a stage's measures in its output tree. */
export const MEASURES_FILE = 'measures.json';

/** A measure's name: lowerCamel, so that `max` or `min` and the name upper-cased make the check's key. */
export const MEASURE_NAME = /^[a-z][A-Za-z0-9]*$/;

/** The key of a check item that names its test: `maxNoFaceShare`, `minImagesPerCell`. */
const TEST_KEY = /^(max|min)([A-Z][A-Za-z0-9]*)$/;

export type CheckSeverity = 'error' | 'warn';

/** One check as written, with its severity filled in. */
export interface CheckSpec {
  /** The key it was written with: `maxNoFaceShare`. */
  name: string;
  measure: string;
  comparison: 'max' | 'min';
  threshold: number;
  severity: CheckSeverity;
  description?: string;
}

/** A check evaluated on a stage's stored result. */
export interface CheckOutcome extends CheckSpec {
  /** The measured value; null when the stage did not report the measure (then the check failed). */
  value: number | null;
  passed: boolean;
}

/** The measure and comparison a check key names, or undefined for a key that is not a test. */
export function parseTestKey(key: string): { measure: string; comparison: 'max' | 'min' } | undefined {
  const match = TEST_KEY.exec(key);
  if (!match) return undefined;
  const rest = match[2]!;
  return { measure: rest[0]!.toLowerCase() + rest.slice(1), comparison: match[1] as 'max' | 'min' };
}

/** The test keys of one check item (the loader refuses an item with other than exactly one). */
export function testKeys(item: Record<string, unknown>): string[] {
  return Object.keys(item).filter((key) => parseTestKey(key) !== undefined);
}

/** The checks of a validated stage entry (its schema and the loader have made each item well formed). */
export function checkSpecs(entry: Readonly<Record<string, unknown>>): CheckSpec[] {
  const items = entry.checks;
  if (!Array.isArray(items)) return [];
  return items.map((raw) => {
    const item = raw as Record<string, unknown>;
    const name = testKeys(item)[0]!;
    const { measure, comparison } = parseTestKey(name)!;
    const spec: CheckSpec = {
      name,
      measure,
      comparison,
      threshold: Number(item[name]),
      severity: item.severity === 'warn' ? 'warn' : 'error',
    };
    if (typeof item.description === 'string') spec.description = item.description;
    return spec;
  });
}

/** Evaluates checks against a stage's measures (undefined: it wrote no measures.json). */
export function evaluateChecks(
  specs: readonly CheckSpec[],
  measures: Readonly<Record<string, number>> | undefined,
): CheckOutcome[] {
  return specs.map((spec) => {
    const value = measures?.[spec.measure];
    if (typeof value !== 'number') return { ...spec, value: null, passed: false };
    const passed = spec.comparison === 'max' ? value <= spec.threshold : value >= spec.threshold;
    return { ...spec, value, passed };
  });
}

/** One line for people: `check maxNoFaceShare failed: noFaceShare is 0.05, more than 0.02`. */
export function describeCheck(outcome: CheckOutcome): string {
  const head = `check ${outcome.name} ${outcome.passed ? 'passed' : 'failed'}`;
  const about = outcome.description ? ` (${outcome.description})` : '';
  if (outcome.value === null) return `${head}: the stage did not report ${outcome.measure}${about}`;
  const relation = outcome.passed
    ? outcome.comparison === 'max'
      ? 'at most'
      : 'at least'
    : outcome.comparison === 'max'
      ? 'more than'
      : 'less than';
  return `${head}: ${outcome.measure} is ${number(outcome.value)}, ${relation} ${number(outcome.threshold)}${about}`;
}

/** A check as written, for messages about changed checks: `maxNoFaceShare: 0.02 (warn)`. */
export function describeSpec(spec: CheckSpec): string {
  const notes = [...(spec.severity === 'warn' ? ['warn'] : []), ...(spec.description ? [`"${spec.description}"`] : [])];
  return `${spec.name}: ${number(spec.threshold)}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}

/** The failed checks, by what they do: an error stops the stage's descendants, a warning is only said. */
export function failedChecks(outcomes: readonly CheckOutcome[]): { errors: CheckOutcome[]; warnings: CheckOutcome[] } {
  const failed = outcomes.filter((o) => !o.passed);
  return {
    errors: failed.filter((o) => o.severity === 'error'),
    warnings: failed.filter((o) => o.severity === 'warn'),
  };
}

// Six significant digits: enough to tell 0.0200001 from 0.02, short enough to read.
function number(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

/** Refuses what cannot be a measures.json: a name that is not lowerCamel, a value that is not a finite number. */
export function measuresProblem(measures: Record<string, unknown>, declared: readonly string[]): string | undefined {
  for (const [name, value] of Object.entries(measures)) {
    if (!MEASURE_NAME.test(name)) return `measure name "${name}" is not lowerCamel (e.g. noFaceShare)`;
    if (!declared.includes(name)) {
      const known = declared.length ? `it declares ${declared.join(', ')}` : 'it declares no measures';
      return `measure "${name}" is not declared in the stage type's measures (${known})`;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) return `measure "${name}" is not a finite number`;
  }
  return undefined;
}

/**
 * The measures a stored result reports: its measures.json, undefined when it has none or it is not an object of
 * numbers (then every check fails, saying the stage did not report its measure).
 */
export function readMeasures(outputs: Tree, readBlob: (hash: Hash) => Buffer): Record<string, number> | undefined {
  const entry = outputs[MEASURES_FILE];
  if (!entry) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readBlob(entry.hash).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const numbers = Object.entries(parsed).filter(([, v]) => typeof v === 'number' && Number.isFinite(v));
  return Object.fromEntries(numbers) as Record<string, number>;
}

/** A stage's checks evaluated on its stored outputs; empty when it has none (nothing is read then). */
export function outcomesFor(
  entry: Readonly<Record<string, unknown>>,
  outputs: Tree,
  readBlob: (hash: Hash) => Buffer,
): CheckOutcome[] {
  const specs = checkSpecs(entry);
  return specs.length ? evaluateChecks(specs, readMeasures(outputs, readBlob)) : [];
}
