import type { Hash } from '../cache/hash.js';
import { treeHash, type Tree } from '../cache/tree.js';
import { ENGINE_FIELDS, type StageEntry } from './stage.js';
import { checkSpecs, type CheckSpec } from './checks.js';
import type { InputHasher } from './input-hasher.js';
import type { Pipeline, StageSpec } from './spec/pipeline.js';
import type { KeyMaterial } from './stage-key.js';

export class MissingDepError extends Error {}

export function keyParams(stage: StageSpec): Record<string, unknown> {
  if (stage.definition.keyParams) return stage.definition.keyParams(stage.entry);
  const params: StageEntry = { ...stage.entry };
  for (const field of ENGINE_FIELDS) delete params[field];
  return params;
}

export interface UpstreamOutput {
  treeHash: Hash;
  outputs: Tree;
}

/** The part of an output tree at or under `rel`. */
export function subtree(tree: Tree, rel: string): Tree {
  return Object.fromEntries(Object.entries(tree).filter(([p]) => p === rel || p.startsWith(`${rel}/`)));
}

/**
 * Gathers a stage's key material. Upstream stages enter by their output-tree hash, so `upstream` must hold
 * every upstream stage. A dep inside an upstream stage's outs is taken from that stage's recorded output,
 * not re-read from the workspace; other deps and datasets are hashed (through the stat cache) here.
 */
export async function gatherMaterial(
  pipeline: Pipeline,
  stage: StageSpec,
  upstream: ReadonlyMap<string, UpstreamOutput>,
  hasher: InputHasher,
): Promise<KeyMaterial> {
  const inputs: Record<string, Hash> = {};
  for (const name of stage.namedInputs) {
    const done = upstream.get(name);
    if (done === undefined) throw new Error(`internal: upstream ${name} of ${stage.name} has no output yet`);
    inputs[name] = done.treeHash;
  }
  const datasets: Record<string, Hash> = {};
  const sources: Record<string, Record<string, unknown>> = {};
  for (const name of stage.datasets) {
    const spec = pipeline.datasets.get(name)!;
    datasets[name] = (await hasher.dataset(spec)).hash;
    sources[name] = readingOptions(spec.options);
  }
  const deps: Record<string, Hash> = {};
  for (const dep of stage.deps) {
    const owner = stage.upstreamStages
      .map((name) => pipeline.stages.get(name)!)
      .find((s) => s.outs.some((out) => dep === out || dep.startsWith(`${out}/`)));
    if (owner) {
      deps[dep] = treeHash(subtree(upstream.get(owner.name)!.outputs, dep));
      continue;
    }
    const hashed = await hasher.workspacePath(dep);
    if (!hashed) throw new MissingDepError(`dep "${dep}" does not exist`);
    deps[dep] = hashed.hash;
  }
  const models: Record<string, Hash> = {};
  for (const [name, file] of Object.entries(stage.definition.modelFiles?.(stage.entry) ?? {})) {
    const hashed = await hasher.file(file);
    if (!hashed)
      throw new MissingDepError(`model file "${name}" (${file}) does not exist; install the package that provides it`);
    models[name] = hashed;
  }
  const upstreamChecks = stage.definition.readsChecks ? checksOfUpstream(pipeline, stage) : undefined;
  return {
    type: stage.type,
    version: stage.definition.version,
    params: keyParams(stage),
    seed: pipeline.seed,
    stream: stage.name,
    inputs,
    datasets,
    ...(stage.datasets.length ? { sources } : {}),
    deps,
    models,
    ...(upstreamChecks ? { upstreamChecks } : {}),
  };
}

/** The checks of each upstream stage that has any; undefined when none has (the key is then as without them). */
function checksOfUpstream(pipeline: Pipeline, stage: StageSpec): Record<string, CheckSpec[]> | undefined {
  const found: Record<string, CheckSpec[]> = {};
  for (const name of stage.upstreamStages) {
    const specs = checkSpecs(pipeline.stages.get(name)!.entry);
    if (specs.length) found[name] = specs;
  }
  return Object.keys(found).length ? found : undefined;
}

/** Where a dataset lives, where to download it and what it is about do not change what reading it gives. */
const NOT_READING = new Set(['path', 'url', 'description']);

function readingOptions(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([name]) => !NOT_READING.has(name)));
}
