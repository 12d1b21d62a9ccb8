import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StageEntry, StageRegistry } from '../stage.js';
import { schemasDir, toPosix } from '../paths.js';
import { didYouMean, type Diagnostic, type Result } from './diagnostics.js';
import type { DatasetSpec, Pipeline, StageSpec } from './pipeline.js';
import { checkAgainstSchema } from './schema-check.js';
import { parseSpecYaml } from './parse-yaml.js';
import { readPipelineSource } from './read-source.js';
import type { SourceMap, SpecPath } from './source-map.js';
import { stageChecks } from './stage-checks.js';
import { checkSpecProblems } from './check-specs.js';
import { outProblem, protectedPaths } from '../workspace-paths.js';

interface RawPipeline {
  name?: string;
  seed: number;
  store: string;
  datasets: Record<string, Record<string, unknown>>;
  stages: Record<string, Record<string, unknown>>;
}

/**
 * Reads, parses and validates a pipeline file. Every problem found is reported, each with its file, line
 * and column; the pipeline is returned only when there are none.
 */
export function loadPipeline(file: string, registry: StageRegistry): Result<Pipeline> {
  const abs = path.resolve(file);
  const source = readPipelineSource(abs, file);
  if ('diagnostic' in source) return fail([source.diagnostic]);
  return parsePipeline(abs, source.text, registry);
}

export function parsePipeline(file: string, text: string, registry: StageRegistry): Result<Pipeline> {
  const parsed = parseSpecYaml(file, text);
  if ('diagnostics' in parsed) return fail(parsed.diagnostics);
  const { raw, sourceMap } = parsed;
  const diagnostics: Diagnostic[] = [];
  diagnostics.push(...checkAgainstSchema(file, 'pipeline.schema.json', raw, [], sourceMap));
  if (diagnostics.length) return fail(diagnostics);
  const spec = raw as RawPipeline;
  const dir = path.dirname(file);

  const datasets = new Map<string, DatasetSpec>();
  for (const [name, entry] of Object.entries(spec.datasets)) {
    const { value: expanded, unset } = expandEnv(String(entry.path));
    const location = path.resolve(dir, expanded);
    for (const variable of unset) {
      diagnostics.push({
        code: 'unset-variable',
        severity: 'error',
        file,
        path: `datasets.${name}.path`,
        message:
          `datasets.${name}.path uses \${${variable}}, ` +
          `but the environment variable ${variable} is not set (or empty); ` +
          `set it, or give a default: \${${variable}:-data}`,
        at: sourceMap.locateWithin(['datasets', name, 'path'], `\${${variable}`),
      });
    }
    if (!unset.length && !fs.existsSync(location)) {
      const shown = path.isAbsolute(expanded) ? expanded : `${expanded} (beside the pipeline file)`;
      const from = entry.url ? ` (download it from ${entry.url})` : '';
      diagnostics.push({
        code: 'missing-path',
        severity: 'error',
        file,
        path: `datasets.${name}.path`,
        message: `dataset "${name}": ${shown} does not exist; put the dataset there${from}, or point path at it`,
        at: sourceMap.locate(['datasets', name, 'path']),
      });
    }
    datasets.set(name, { name, format: String(entry.format), path: location, options: entry });
  }

  const stages = new Map<string, StageSpec>();
  for (const [name, entry] of Object.entries(spec.stages)) {
    const at: SpecPath = ['stages', name];
    if (datasets.has(name)) {
      diagnostics.push({
        code: 'name-clash',
        severity: 'error',
        file,
        path: `stages.${name}`,
        message: `"${name}" names both a dataset and a stage; rename one of them`,
        at: sourceMap.locate(at, { key: true }),
      });
    }
    const definition = registry.definition(String(entry.type));
    if (!definition) {
      diagnostics.push({
        code: 'unknown-stage-type',
        severity: 'error',
        file,
        path: `stages.${name}.type`,
        message: `stages.${name}.type: unknown stage type "${entry.type}"${didYouMean(String(entry.type), registry.types())} (known: ${registry.types().join(', ')})`,
        at: sourceMap.locate([...at, 'type']),
      });
      continue;
    }
    const stageErrors = checkAgainstSchema(
      file,
      path.resolve(schemasDir, 'stages', definition.schema),
      entry,
      at,
      sourceMap,
    );
    diagnostics.push(...stageErrors);
    if (stageErrors.length) continue;
    const typed = entry as StageEntry;
    const paths = definition.workspacePaths?.(typed) ?? { deps: [], outs: [] };
    stages.set(name, {
      name,
      type: typed.type,
      definition,
      entry: typed,
      upstreamStages: [],
      namedInputs: [],
      datasets: [],
      deps: paths.deps.map(normalise),
      outs: paths.outs.map(normalise),
    });
  }

  const storeDir = path.resolve(dir, spec.store);
  const lockFile = path.join(dir, `${path.basename(file).replace(/\.ya?ml$/i, '')}.lock.json`);
  if (fs.existsSync(storeDir) && !fs.statSync(storeDir).isDirectory()) {
    diagnostics.push({
      code: 'invalid-value',
      severity: 'error',
      file,
      path: 'store',
      message: `store: ${spec.store} is a file, not a folder; point store at a folder (it is created when missing)`,
      at: sourceMap.locate(['store']),
    });
  }
  const guarded = protectedPaths({ file, lockFile, storeDir, datasets: datasets.values() });
  for (const stage of stages.values()) {
    const outs = stage.definition.workspacePaths?.(stage.entry).outs ?? [];
    outs.forEach((out, i) => {
      const problem = outProblem(dir, out, guarded);
      if (!problem) return;
      diagnostics.push({
        code: 'unsafe-out',
        severity: 'error',
        file,
        path: `stages.${stage.name}.outs.${i}`,
        message: `stages.${stage.name}.outs: "${out}" ${problem}`,
        at: sourceMap.locate(['stages', stage.name, 'outs', i]),
      });
    });
  }
  if (diagnostics.some((d) => d.severity === 'error')) return fail(diagnostics);

  resolveReferences(file, spec, datasets, stages, sourceMap, diagnostics);
  diagnostics.push(...stageChecks(file, stages, datasets, sourceMap, registry));
  diagnostics.push(...checkSpecProblems(file, stages, sourceMap));
  if (diagnostics.some((d) => d.severity === 'error')) return fail(diagnostics);

  const order = topologicalOrder(stages);
  if (!Array.isArray(order)) {
    const cycle = order.cycle;
    diagnostics.push({
      code: 'cycle',
      severity: 'error',
      file,
      path: `stages.${cycle[0]}`,
      message: `the stages form a cycle: ${[...cycle, cycle[0]].join(' → ')}; a stage cannot depend on its own output`,
      at: sourceMap.locate(['stages', cycle[0]!], { key: true }),
    });
    return fail(diagnostics);
  }

  const name = spec.name ?? path.basename(file).replace(/\.ya?ml$/i, '');
  const pipeline: Pipeline = {
    file,
    dir,
    name,
    seed: spec.seed,
    storeDir,
    lockFile,
    datasets,
    stages,
    order,
    sourceMap,
  };
  return { ok: true, value: pipeline, warnings: diagnostics.concat(warningsFor(pipeline)) };
}

/**
 * `${NAME}` and `${NAME:-default}` from the environment, so data can live elsewhere without editing the spec.
 * A variable that is unset or empty and has no default is returned in `unset`: a path must never silently
 * lose a part (`${DATA}/faces` becoming `/faces`).
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv = process.env): { value: string; unset: string[] } {
  const unset: string[] = [];
  const value = text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback?: string) => {
    const set = env[name];
    if (set) return set;
    if (fallback !== undefined) return fallback;
    unset.push(name);
    return '';
  });
  return { value, unset };
}

function fail(diagnostics: Diagnostic[]): Result<Pipeline> {
  return { ok: false, diagnostics };
}

function normalise(p: string): string {
  return toPosix(path.normalize(p)).replace(/\/$/, '');
}

function contains(outer: string, inner: string): boolean {
  return outer === inner || inner.startsWith(`${outer}/`);
}

/** Turns names in input/inputs/models and deps-on-outs into edges, reporting what does not resolve. */
function resolveReferences(
  file: string,
  spec: RawPipeline,
  datasets: Map<string, DatasetSpec>,
  stages: Map<string, StageSpec>,
  sourceMap: SourceMap,
  diagnostics: Diagnostic[],
): void {
  const known = [...Object.keys(spec.stages), ...datasets.keys()];
  const outOwners: { out: string; stage: string }[] = [];
  for (const stage of stages.values()) {
    for (const [i, out] of stage.outs.entries()) {
      const clash = outOwners.find((o) => contains(o.out, out) || contains(out, o.out));
      if (clash) {
        diagnostics.push({
          code: 'duplicate-out',
          severity: 'error',
          file,
          path: `stages.${stage.name}.outs.${i}`,
          message: `stages.${stage.name}.outs: "${out}" overlaps "${clash.out}", an out of stage "${clash.stage}"; each output path has one owner`,
          at: sourceMap.locate(['stages', stage.name, 'outs', i]),
        });
      }
      outOwners.push({ out, stage: stage.name });
    }
  }

  for (const stage of stages.values()) {
    const refs: { name: string; at: SpecPath }[] = [];
    const entry = stage.entry;
    if (typeof entry.input === 'string') refs.push({ name: entry.input, at: ['stages', stage.name, 'input'] });
    for (const field of ['inputs', 'models'] as const) {
      const list = entry[field];
      if (Array.isArray(list))
        list.forEach((n, i) => refs.push({ name: String(n), at: ['stages', stage.name, field, i] }));
    }
    const upstream = new Set<string>();
    const used = new Set<string>();
    for (const ref of refs) {
      if (ref.name === stage.name) {
        diagnostics.push({
          code: 'cycle',
          severity: 'error',
          file,
          path: ref.at.join('.'),
          message: `stage "${stage.name}" names itself as an input`,
          at: sourceMap.locate(ref.at),
        });
      } else if (spec.stages[ref.name] !== undefined) upstream.add(ref.name);
      else if (datasets.has(ref.name)) used.add(ref.name);
      else {
        diagnostics.push({
          code: 'unknown-reference',
          severity: 'error',
          file,
          path: ref.at.join('.'),
          message: `${ref.at.join('.')}: no stage or dataset is named "${ref.name}"${didYouMean(ref.name, known)}`,
          at: sourceMap.locate(ref.at),
        });
      }
    }
    const named = [...upstream];
    for (const [i, dep] of stage.deps.entries()) {
      const owner = outOwners.find((o) => contains(o.out, dep) || contains(dep, o.out));
      if (owner && owner.stage !== stage.name) upstream.add(owner.stage);
      else if (owner) {
        diagnostics.push({
          code: 'cycle',
          severity: 'error',
          file,
          path: `stages.${stage.name}.deps.${i}`,
          message: `stages.${stage.name}.deps: "${dep}" is also one of this stage's own outs`,
          at: sourceMap.locate(['stages', stage.name, 'deps', i]),
        });
      } else if (!fs.existsSync(path.resolve(path.dirname(file), dep))) {
        diagnostics.push({
          code: 'missing-path',
          severity: 'error',
          file,
          path: `stages.${stage.name}.deps.${i}`,
          message: `stages.${stage.name}.deps: "${dep}" does not exist and no stage declares it in its outs`,
          at: sourceMap.locate(['stages', stage.name, 'deps', i]),
        });
      }
    }
    stage.upstreamStages = [...upstream];
    stage.namedInputs = named;
    stage.datasets = [...used];
  }
}

/** Kahn's algorithm keeping file order among ready stages; on a cycle, returns one cycle's stages. */
function topologicalOrder(stages: Map<string, StageSpec>): string[] | { cycle: string[] } {
  const remaining = new Map([...stages.values()].map((s) => [s.name, new Set(s.upstreamStages)]));
  const order: string[] = [];
  while (remaining.size) {
    const ready = [...remaining.keys()].filter((n) => remaining.get(n)!.size === 0);
    if (!ready.length) return { cycle: findCycle(remaining) };
    for (const name of ready) {
      order.push(name);
      remaining.delete(name);
      for (const ups of remaining.values()) ups.delete(name);
    }
  }
  return order;
}

function findCycle(edges: Map<string, Set<string>>): string[] {
  // Every remaining node has an upstream among the remaining, so walking upstream must revisit a node.
  const path: string[] = [];
  let node = edges.keys().next().value as string;
  while (!path.includes(node)) {
    path.push(node);
    node = edges.get(node)!.values().next().value as string;
  }
  return path.slice(path.indexOf(node)).reverse();
}

function warningsFor(pipeline: Pipeline): Diagnostic[] {
  const warnings: Diagnostic[] = [];
  for (const stage of pipeline.stages.values()) {
    const reason = stage.definition.uncacheableReason?.(stage.entry);
    if (reason) {
      warnings.push({
        code: 'schema',
        severity: 'warning',
        file: pipeline.file,
        path: `stages.${stage.name}`,
        message: `stage "${stage.name}" ${reason}`,
        at: pipeline.sourceMap.locate(['stages', stage.name], { key: true }),
      });
    }
  }
  return warnings;
}
