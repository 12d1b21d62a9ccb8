import * as fs from 'node:fs';
import { stableJson, type Hash } from '../cache/hash.js';
import { writeFileAtomic } from '../cache/atomic.js';
import { putRoot } from '../cache/roots.js';
import type { Tree } from '../cache/tree.js';
import type { KeyMaterial } from './stage-key.js';
import type { CheckOutcome } from './checks.js';

export const LOCKFILE_VERSION = 1;

export interface LockedDataset {
  format: string;
  /** Relative to the pipeline file, `/`-separated. */
  path: string;
  tree: Hash;
  files: number;
}

/** A stage's entry: the key material it was made from (less its stream, which is its name), its key and outputs. */
export interface LockedStage extends Omit<KeyMaterial, 'stream'> {
  key: Hash;
  outputs: { tree: Hash; files: Tree };
  /** The outcomes of the stage's `checks:` on these outputs; absent when it has none (and in older lockfiles). */
  checks?: CheckOutcome[];
}

/**
 * `pipelines/<name>.lock.json`: what the last run of each stage was made from and what it produced. Sorted at
 * every depth and free of timestamps and machine paths, so two runs on two machines diff cleanly.
 */
export interface Lockfile {
  lockfileVersion: typeof LOCKFILE_VERSION;
  pipeline: string;
  seed: number;
  datasets: Record<string, LockedDataset>;
  stages: Record<string, LockedStage>;
}

export function emptyLockfile(pipeline: string, seed: number): Lockfile {
  return { lockfileVersion: LOCKFILE_VERSION, pipeline, seed, datasets: {}, stages: {} };
}

export class LockfileError extends Error {}

export function readLockfile(file: string): Lockfile | undefined {
  if (!fs.existsSync(file)) return undefined;
  let parsed: Partial<Lockfile>;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Lockfile>;
  } catch (error) {
    throw new LockfileError(
      `${file}: not valid JSON (${(error as Error).message}); delete it and run again to rewrite it`,
    );
  }
  if (parsed.lockfileVersion !== LOCKFILE_VERSION || typeof parsed.stages !== 'object' || parsed.stages === null) {
    throw new LockfileError(`${file}: not a fer-dag lockfile of version ${LOCKFILE_VERSION}`);
  }
  return { datasets: {}, ...parsed } as Lockfile;
}

/**
 * Writes the lockfile and, given the store it was run against, records it among the store's roots, so
 * `cache gc` from any pipeline sharing the store keeps what this lockfile needs.
 */
export function writeLockfile(file: string, lock: Lockfile, storeRoot?: string): void {
  writeFileAtomic(file, serializeLockfile(lock));
  if (storeRoot)
    putRoot(
      storeRoot,
      file,
      Object.values(lock.stages).map((entry) => entry.key),
    );
}

/** The one serializer: every key sorted, two-space indent, final newline. */
export function serializeLockfile(lock: Lockfile): string {
  return stableJson(lock);
}

export function lockedStage(
  key: Hash,
  material: KeyMaterial,
  outputs: Tree,
  tree: Hash,
  checks: readonly CheckOutcome[] = [],
): LockedStage {
  const { type, version, seed, params, inputs, datasets, sources, deps, models, upstreamChecks } = material;
  return {
    key,
    type,
    version,
    seed,
    params,
    inputs,
    datasets,
    ...(sources ? { sources } : {}),
    deps,
    models,
    ...(upstreamChecks ? { upstreamChecks } : {}),
    outputs: { tree, files: outputs },
    // Only when there are checks: the lockfile of a pipeline without them stays byte for byte as it was.
    ...(checks.length ? { checks: [...checks] } : {}),
  };
}

/** The key material a locked stage was made from (its stream is its name). */
export function lockedMaterial(lock: Lockfile, name: string): KeyMaterial | undefined {
  const entry = lock.stages[name];
  if (!entry) return undefined;
  const { type, version, seed, params, inputs, datasets, sources, deps, models, upstreamChecks } = entry;
  return {
    type,
    version,
    params,
    seed,
    stream: name,
    inputs,
    datasets,
    ...(sources ? { sources } : {}),
    deps,
    models,
    ...(upstreamChecks ? { upstreamChecks } : {}),
  };
}
