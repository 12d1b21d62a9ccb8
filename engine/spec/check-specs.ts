import { parseTestKey, testKeys } from '../checks.js';
import { closest, type Diagnostic } from './diagnostics.js';
import type { StageSpec } from './pipeline.js';
import type { SourceMap, SpecPath } from './source-map.js';

/**
 * The rules of `checks:` a schema cannot express, run by the loader after the stage schemas pass: each item
 * names exactly one test (`maxNoFaceShare`, `minImagesPerCell`), and its measure is one the stage type declares.
 * A check of a measure the stage never reports would fail on every run; it is refused at its line instead.
 */
export function checkSpecProblems(file: string, stages: Map<string, StageSpec>, sourceMap: SourceMap): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  for (const stage of stages.values()) {
    const items = stage.entry.checks;
    if (!Array.isArray(items)) continue;
    const declared = Object.keys(stage.definition.measures ?? {}).sort();
    items.forEach((raw, i) => {
      const item = raw as Record<string, unknown>;
      const where: SpecPath = ['stages', stage.name, 'checks', i];
      const tests = testKeys(item);
      const problem = (at: SpecPath, message: string, code: Diagnostic['code'] = 'invalid-value') =>
        diagnostics.push({
          code,
          severity: 'error',
          file,
          path: at.join('.'),
          message: `stage "${stage.name}": ${message}`,
          at: sourceMap.locate(at, { key: at.length > where.length }),
        });
      if (tests.length !== 1) {
        const found = tests.length ? `has ${tests.length} (${tests.join(', ')})` : 'has none';
        problem(
          where,
          `checks.${i} must name one test, max<Measure> or min<Measure> (e.g. maxNoFaceShare: 0.02); it ${found}`,
        );
        return;
      }
      const name = tests[0]!;
      const { measure } = parseTestKey(name)!;
      if (declared.includes(measure)) return;
      const measures = declared.length ? `it measures ${declared.join(', ')}` : 'it measures nothing';
      const near = closest(measure, declared);
      const hint = near ? ` (did you mean "${near}"?)` : '';
      problem(
        [...where, name],
        `check ${name}: ${stage.type} has no measure "${measure}"; ${measures}${hint}`,
        'unknown-measure',
      );
    });
  }
  return diagnostics;
}
