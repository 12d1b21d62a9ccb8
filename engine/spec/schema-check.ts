import * as fs from 'node:fs';
import * as path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { schemasDir } from '../paths.js';
import { didYouMean, type Diagnostic } from './diagnostics.js';
import { dotted, type SourceMap, type SpecPath } from './source-map.js';

// verbose: errors carry their schema, so an unknown property can be answered with the allowed ones.
// strictNumbers: NaN and Infinity are not numbers (ajv otherwise passes 1e400 as an integer).
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, strictNumbers: true, verbose: true });
const compiled = new Map<string, ValidateFunction>();
// What several stage schemas share; they refer to it as common.schema.json#/$defs/…, resolved against their $id.
ajv.addSchema(readSchema(path.join(schemasDir, 'stages', 'common.schema.json')));

function readSchema(file: string): { $id?: string } {
  return JSON.parse(fs.readFileSync(path.resolve(schemasDir, file), 'utf8')) as { $id?: string };
}

/** Compiles (once per process) a schema from `schemas/`, or from an absolute path (a stage defined outside). */
export function schemaValidator(file: string): ValidateFunction {
  let validate = compiled.get(file);
  if (!validate) {
    validate = ajv.compile(readSchema(file));
    compiled.set(file, validate);
  }
  return validate;
}

/**
 * A stage schema's `params` with nothing given: every default the schema declares, filled in by ajv as it fills
 * in a pipeline's entries. Code that needs a default reads it here rather than keeping a copy of it.
 */
export function defaultParams<E extends { params?: unknown }>(stageSchemaFile: string): NonNullable<E['params']> {
  const file = path.resolve(schemasDir, 'stages', stageSchemaFile);
  const id = readSchema(file).$id;
  if (!id) throw new Error(`${stageSchemaFile} has no $id`);
  schemaValidator(file); // registers the schema under its $id, for the $ref below
  const validate = ajv.compile({ $ref: `${id}#/properties/params` });
  const value = {};
  if (!validate(value)) {
    throw new Error(`${stageSchemaFile}: params left empty are invalid: ${ajv.errorsText(validate.errors)}`);
  }
  return value as NonNullable<E['params']>;
}

/**
 * Validates `value` (mutating it: schema defaults are filled in) and turns each ajv error into a diagnostic
 * positioned on the YAML node it concerns. `base` is where `value` sits in the whole spec.
 */
export function checkAgainstSchema(
  file: string,
  schemaFile: string,
  value: unknown,
  base: SpecPath,
  sourceMap: SourceMap,
): Diagnostic[] {
  const validate = schemaValidator(schemaFile);
  if (validate(value)) return [];
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    const diagnostic = toDiagnostic(file, error, base, sourceMap);
    const id = `${diagnostic.at?.line}:${diagnostic.at?.column}:${diagnostic.message}`;
    if (!seen.has(id)) diagnostics.push(diagnostic);
    seen.add(id);
  }
  return diagnostics;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function toDiagnostic(file: string, error: ErrorObject, base: SpecPath, sourceMap: SourceMap): Diagnostic {
  const where = [...base, ...pointerToPath(error.instancePath)];
  const subject = where.length ? dotted(where) : 'the pipeline';
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return {
        code: 'schema',
        severity: 'error',
        file,
        path: dotted(where),
        message: `${subject} is missing required property "${String(params.missingProperty)}"`,
        at: sourceMap.locate(where, { key: true }),
      };
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const parentSchema = error.parentSchema as { properties?: Record<string, unknown> } | undefined;
      const known = Object.keys(parentSchema?.properties ?? {});
      return {
        code: 'schema',
        severity: 'error',
        file,
        path: dotted([...where, extra]),
        message:
          `${subject} has unknown property "${extra}"${didYouMean(extra, known)}` +
          (known.length ? ` (allowed: ${known.join(', ')})` : ''),
        at: sourceMap.locate([...where, extra], { key: true }),
      };
    }
    case 'propertyNames':
    case 'pattern':
      if (error.keyword === 'propertyNames' || error.propertyName) {
        const name = String(params.propertyName ?? error.propertyName ?? '');
        return {
          code: 'schema',
          severity: 'error',
          file,
          path: dotted([...where, name]),
          message: `${subject}: "${name}" is not a valid name (letters, digits, - and _, starting with a letter)`,
          at: sourceMap.locate([...where, name], { key: true }),
        };
      }
      break;
    case 'enum':
      return {
        code: 'schema',
        severity: 'error',
        file,
        path: dotted(where),
        message: `${subject} must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
        at: sourceMap.locate(where),
      };
    case 'const':
      return {
        code: 'schema',
        severity: 'error',
        file,
        path: dotted(where),
        message: `${subject} must be ${JSON.stringify(params.allowedValue)}`,
        at: sourceMap.locate(where),
      };
  }
  return {
    code: 'schema',
    severity: 'error',
    file,
    path: dotted(where),
    message: `${subject} ${error.message ?? 'is invalid'}`,
    at: sourceMap.locate(where),
  };
}
