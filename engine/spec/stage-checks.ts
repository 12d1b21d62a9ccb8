import type { OutputKind, StageRegistry } from '../stage.js';
import type { Diagnostic } from './diagnostics.js';
import type { DatasetSpec, StageSpec } from './pipeline.js';
import type { SourceMap, SpecPath } from './source-map.js';

/**
 * Checks that need the whole pipeline or a stage's own knowledge, run by the loader after the schemas pass:
 * each stage's cross-field rules (`checkEntry`) and the kinds of input each reference field takes (`accepts`),
 * so that a merge of a command stage is refused at its line rather than failing when it runs.
 */
export function stageChecks(
  file: string,
  stages: Map<string, StageSpec>,
  datasets: Map<string, DatasetSpec>,
  sourceMap: SourceMap,
  registry: StageRegistry,
): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  for (const stage of stages.values()) {
    for (const problem of stage.definition.checkEntry?.(stage.entry) ?? []) {
      const where: SpecPath = ['stages', stage.name, ...problem.path];
      diagnostics.push({
        code: 'invalid-value',
        severity: 'error',
        file,
        path: where.join('.'),
        message: `${where.join('.')} ${problem.message}`,
        at: sourceMap.locate(where),
      });
    }
    for (const field of ['input', 'inputs', 'models'] as const) {
      const accepted = stage.definition.accepts?.[field];
      const value = stage.entry[field];
      if (!accepted || accepted.includes('any') || value === undefined) continue;
      const names = Array.isArray(value) ? value.map(String) : [String(value)];
      names.forEach((name, i) => {
        const upstream = stages.get(name);
        const kind = datasets.has(name) ? 'source' : upstream ? (upstream.definition.produces ?? 'files') : undefined;
        if (kind === undefined || accepted.includes(kind)) return; // an unknown name is reported elsewhere
        const where: SpecPath = Array.isArray(value) ? ['stages', stage.name, field, i] : ['stages', stage.name, field];
        const what = upstream
          ? `"${name}" is a ${upstream.type} stage, which gives ${KIND_WORDS[kind]}`
          : `"${name}" is a source dataset`;
        const verb = field === 'input' ? 'takes' : 'take';
        const takes = `${stage.type}'s ${field} ${verb} ${accepted.map((kind) => describeKind(kind, registry)).join(' or ')}`;
        diagnostics.push({
          code: 'wrong-input',
          severity: 'error',
          file,
          path: where.join('.'),
          message: `${where.join('.')}: ${what}; ${takes}`,
          at: sourceMap.locate(where),
        });
      });
    }
  }
  return diagnostics;
}

const KIND_WORDS: Record<OutputKind, string> = {
  source: 'a source of images',
  manifest: 'a dataset (manifest.jsonl)',
  model: 'a model',
  evaluation: 'an evaluation',
  report: 'a report',
  files: 'files',
};

/** A kind in words with the stage types that produce it, e.g. `a model (train)`. */
function describeKind(kind: OutputKind | 'any', registry: StageRegistry): string {
  if (kind === 'any') return 'anything';
  const producers = registry.types().filter((t) => (registry.definition(t)!.produces ?? 'files') === kind);
  if (kind === 'source') return `a source dataset (one under datasets:, or ${producers.join(', ')})`;
  return `${KIND_WORDS[kind]} (${producers.join(', ')})`;
}
