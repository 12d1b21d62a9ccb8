import type { Store } from '../cache/store.js';
import { treeHash } from '../cache/tree.js';
import { InputHasher } from './input-hasher.js';
import { emptyLockfile, lockedMaterial, readLockfile } from './lockfile.js';
import { gatherMaterial, keyParams, subtree, type UpstreamOutput } from './material.js';
import { diffMaterial } from './material-diff.js';
import { upstreamOf, type Pipeline } from './spec/pipeline.js';
import { stageKey } from './stage-key.js';
import { describeCheck, failedChecks, outcomesFor, type CheckOutcome } from './checks.js';

/** Where `status` looks for results the store lacks (a remote): the outputs a key's record names there. */
export interface RemoteLookup {
  label: string;
  outputs(stage: string, key: string): Promise<UpstreamOutput | undefined>;
}

/**
 * `checks`: the outcomes of a fresh stage's checks on its stored result (absent when it has none, or when the
 * result is only in the remote); one failed check of severity error is a failed gate, and the stages below it
 * are `blocked`: a run would not start them.
 */
export type StageStatus =
  | { stage: string; state: 'fresh'; key: string; restore: string[]; remote?: string; checks?: CheckOutcome[] }
  | { stage: string; state: 'stale'; reasons: string[] }
  | { stage: string; state: 'blocked'; reasons: string[] }
  | { stage: string; state: 'never-run'; reasons: string[] }
  | { stage: string; state: 'always-runs'; reasons: string[] };

/**
 * What a run would do, without running anything: for each stage, whether its cached result is valid, and if
 * not, why (compared with the lockfile's record of its last run). Cheap checks come first: a stage below a
 * stale one is stale without hashing anything of its own.
 */
export async function pipelineStatus(
  pipeline: Pipeline,
  store: Store,
  targets: string[] = [],
  remote?: RemoteLookup,
): Promise<StageStatus[]> {
  const selected = targets.length ? upstreamOf(pipeline, targets) : new Set(pipeline.order);
  const lock = readLockfile(pipeline.lockFile) ?? emptyLockfile(pipeline.name, pipeline.seed);
  const hasher = new InputHasher(store, pipeline.dir);
  const fresh = new Map<string, UpstreamOutput>();
  /** Stages a run would not start, each with why: a failed gate, or one above it. */
  const blocked = new Map<string, string>();
  const statuses: StageStatus[] = [];

  for (const name of pipeline.order.filter((n) => selected.has(n))) {
    const stage = pipeline.stages.get(name)!;
    const above = stage.upstreamStages.filter((u) => blocked.has(u));
    if (above.length) {
      // Each names the failed gate itself, however far above it is.
      const reasons = [...new Set(above.map((u) => blocked.get(u)!))];
      statuses.push({ stage: name, state: 'blocked', reasons });
      blocked.set(name, reasons[0]!);
      continue;
    }
    const before = lockedMaterial(lock, name);
    const uncacheable = stage.definition.uncacheableReason?.(stage.entry);
    if (uncacheable) {
      statuses.push({ stage: name, state: 'always-runs', reasons: [uncacheable] });
      continue;
    }
    const notFresh = stage.upstreamStages.filter((u) => !fresh.has(u));
    if (notFresh.length) {
      const own = before
        ? diffMaterial(before, {
            type: stage.type,
            version: stage.definition.version,
            params: keyParams(stage),
            seed: pipeline.seed,
          })
        : [];
      const reasons = [...own, ...notFresh.map((u) => `upstream ${u} will run`)];
      statuses.push(before ? { stage: name, state: 'stale', reasons } : { stage: name, state: 'never-run', reasons });
      continue;
    }
    let material;
    try {
      material = await gatherMaterial(pipeline, stage, fresh, hasher);
    } catch (error) {
      statuses.push({ stage: name, state: 'stale', reasons: [(error as Error).message] });
      continue;
    }
    const key = stageKey(material);
    const found = store.findResult(key);
    let remoteOutputs: UpstreamOutput | undefined;
    if (found.state === 'complete') {
      const record = found.record;
      const restore: string[] = [];
      for (const out of stage.outs) {
        const actual = await hasher.workspacePath(out);
        if (!actual || actual.hash !== treeHash(subtree(record.outputs, out))) restore.push(out);
      }
      fresh.set(name, { treeHash: record.treeHash, outputs: record.outputs });
      const checks = outcomesFor(stage.entry, record.outputs, (hash) => store.readBlob(hash));
      const errors = failedChecks(checks).errors;
      if (errors.length) blocked.set(name, `upstream ${name}: ${describeCheck(errors[0]!)}`);
      statuses.push({ stage: name, state: 'fresh', key, restore, ...(checks.length ? { checks } : {}) });
    } else if (remote && (remoteOutputs = await remote.outputs(name, key))) {
      fresh.set(name, remoteOutputs);
      statuses.push({ stage: name, state: 'fresh', key, restore: stage.outs, remote: remote.label });
    } else if (found.state !== 'absent') {
      // The key matches, but its record is damaged or its closure (outputs and refs) is incomplete.
      statuses.push({ stage: name, state: 'stale', reasons: [found.reason] });
    } else if (before) {
      const reasons = diffMaterial(before, material);
      statuses.push({
        stage: name,
        state: 'stale',
        reasons: reasons.length ? reasons : ['its cached result is missing from the store'],
      });
    } else {
      statuses.push({ stage: name, state: 'never-run', reasons: [] });
    }
  }
  store.close();
  return statuses;
}
