import type { StageDefinition, StageEntry } from '../stage.js';
import type { SourceMap } from './source-map.js';

export interface DatasetSpec {
  name: string;
  format: string;
  /** Absolute path of the source file or folder. */
  path: string;
  /** The validated entry (format, path, labels, downsample, …). */
  options: Record<string, unknown>;
}

export interface StageSpec {
  name: string;
  type: string;
  definition: StageDefinition<unknown>;
  /** The validated entry with defaults applied. */
  entry: StageEntry;
  /** Upstream stage names, from input/inputs/models and from deps that are another stage's outs. */
  upstreamStages: string[];
  /** The upstream stages named in input/inputs/models: these enter the key by output-tree hash (deps by content). */
  namedInputs: string[];
  /** Source datasets this stage reads. */
  datasets: string[];
  /** Workspace paths (pipeline-relative, `/`-separated) read and written by the stage. */
  deps: string[];
  outs: string[];
}

/** A validated pipeline: every reference resolved, acyclic, stages in a topological order. */
export interface Pipeline {
  file: string;
  dir: string;
  name: string;
  seed: number;
  storeDir: string;
  lockFile: string;
  datasets: Map<string, DatasetSpec>;
  stages: Map<string, StageSpec>;
  /** Stage names, each after all of its upstream stages; ties keep the file's order. */
  order: string[];
  sourceMap: SourceMap;
}

export function downstreamOf(pipeline: Pipeline, names: Iterable<string>): Set<string> {
  const result = new Set(names);
  for (const name of pipeline.order) {
    if (pipeline.stages.get(name)!.upstreamStages.some((u) => result.has(u))) result.add(name);
  }
  return result;
}

export function upstreamOf(pipeline: Pipeline, names: Iterable<string>): Set<string> {
  const result = new Set(names);
  for (const name of [...pipeline.order].reverse()) {
    if (result.has(name)) for (const u of pipeline.stages.get(name)!.upstreamStages) result.add(u);
  }
  return result;
}
