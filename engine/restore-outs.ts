import * as path from 'node:path';
import type { Store } from '../cache/store.js';
import { treeHash, type Tree } from '../cache/tree.js';
import type { InputHasher } from './input-hasher.js';
import { subtree } from './material.js';
import type { Pipeline, StageSpec } from './spec/pipeline.js';
import { protectedPaths, removeWorkspaceOut } from './workspace-paths.js';

/**
 * A fresh stage's outs must be in the workspace as they were produced: a missing or edited out is put back
 * from the cache (a copy, so later edits cannot reach the store). Returns the outs that were restored.
 */
export async function restoreOuts(
  pipeline: Pipeline,
  store: Store,
  hasher: InputHasher,
  stage: StageSpec,
  outputs: Tree,
): Promise<string[]> {
  const restored: string[] = [];
  for (const out of stage.outs) {
    const expected = subtree(outputs, out);
    const actual = await hasher.workspacePath(out);
    if (actual && treeHash(actual.files) === treeHash(expected)) continue;
    removeWorkspaceOut(hasher.pipelineDir, out, guardedPaths(pipeline));
    for (const [rel, entry] of Object.entries(expected))
      store.restoreBlob(entry.hash, path.resolve(hasher.pipelineDir, rel));
    restored.push(out);
  }
  return restored;
}

/** The places no out may touch: the store, the pipeline file, its lockfile and every source dataset. */
export function guardedPaths(pipeline: Pipeline) {
  return protectedPaths({ ...pipeline, datasets: pipeline.datasets.values() });
}
