import * as fs from 'node:fs';
import * as path from 'node:path';
import { collectGarbage, verifyDroppedAnything, verifyStore } from '../cache/maintenance.js';
import { dropRoot, listRoots, putRoot } from '../cache/roots.js';
import type { Store } from '../cache/store.js';
import { LockfileError, readLockfile } from '../engine/lockfile.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import { CliExit, EXIT_OK, EXIT_STAGE_FAILED, loadOrExit, withLockedStore } from './common.js';

const shown = (file: string) => path.relative(process.cwd(), file) || '.';

/** Exit 1 whenever verify removed something a run would have used: a clean exit means nothing was lost. */
export async function cacheVerifyCommand(file: string | undefined, flags: { wait?: string }): Promise<number> {
  const pipeline = loadOrExit(file);
  const wait = Number(flags.wait ?? 0);
  const report = await withLockedStore(pipeline, 'fer-dag cache verify', wait, (store) => verifyStore(store));
  const out = process.stdout;
  out.write(`checked ${report.objectsChecked} objects in ${shown(pipeline.storeDir)}\n`);
  for (const c of report.corrupt) out.write(`  corrupt  ${c.hash} (${c.problem}): removed\n`);
  for (const r of report.droppedRecords) {
    const what = `result of stage ${r.stage} (${r.key.slice(0, 12)}…; ${r.reason})`;
    out.write(`  dropped  ${what}: the next run recomputes it\n`);
  }
  const lines: [number, string][] = [
    [report.droppedItems, 'dropped  %d per-item memo entries that needed a removed or missing blob'],
    [report.rejectedItems, 'dropped  %d per-item memo entries that failed their checksum (edited or damaged)'],
    [report.strayTemps, 'removed  %d temporary files left by interrupted writes'],
    [report.upgradedRecords, 'sealed   %d records written before records had checksums'],
  ];
  for (const [count, line] of lines) if (count) out.write(`  ${line.replace('%d', String(count))}\n`);
  if (!verifyDroppedAnything(report)) {
    out.write('store is consistent\n');
    return EXIT_OK;
  }
  const dropped = report.droppedRecords.length + report.droppedItems + report.rejectedItems;
  out.write(
    `store was damaged: ${report.corrupt.length} corrupt object(s) removed, ${dropped} result(s) dropped; ` +
      'the next run recomputes them\n',
  );
  return EXIT_STAGE_FAILED;
}

interface RootPlan {
  keep: Set<string>;
  kept: string[];
  missing: string[];
  forgotten: string[];
  unreadable: Set<string>;
}

/**
 * What gc keeps, decided under the lock (a run that finished while gc waited has written its root by then):
 * every stage key of every root of the store and of every lockfile beside this pipeline. A root whose
 * lockfile is gone is kept and reported, as git keeps a deleted worktree's objects until it is pruned;
 * `--forget-missing` drops such roots so their results are collected.
 */
function planRoots(pipeline: Pipeline, store: Store, forgetMissing: boolean): RootPlan {
  const plan: RootPlan = { keep: new Set(), kept: [], missing: [], forgotten: [], unreadable: new Set() };
  const keysOf = (lockFile: string): string[] | undefined => {
    try {
      return Object.values(readLockfile(lockFile)?.stages ?? {}).map((entry) => entry.key);
    } catch (error) {
      if (!(error instanceof LockfileError)) throw error;
      plan.unreadable.add(error.message);
      return undefined;
    }
  };
  // Registers this pipeline's lockfile too: stores written before roots existed learn it here.
  const own = fs.existsSync(pipeline.lockFile) ? keysOf(pipeline.lockFile) : undefined;
  if (own) putRoot(store.root, pipeline.lockFile, own);
  for (const name of fs.readdirSync(pipeline.dir).filter((f) => f.endsWith('.lock.json'))) {
    for (const key of keysOf(path.join(pipeline.dir, name)) ?? []) plan.keep.add(key);
  }
  for (const listed of listRoots(store.root)) {
    const root = listed.root;
    if (!root) {
      throw new CliExit(
        EXIT_STAGE_FAILED,
        `fer-dag: ${listed.file} is damaged, so gc cannot tell what it protects; nothing was removed.\n` +
          'Run the pipeline that uses this store again to rewrite its root, ' +
          'or delete that file if no pipeline needs it.',
      );
    }
    if (!fs.existsSync(root.lockFile)) {
      if (forgetMissing) {
        dropRoot(store.root, listed.id);
        plan.forgotten.push(`${root.lockFile} (${root.keys.length} results)`);
        continue;
      }
      plan.missing.push(`${root.lockFile} (last written ${root.writtenAt}): its ${root.keys.length} results are kept`);
    } else {
      plan.kept.push(shown(root.lockFile));
      for (const key of keysOf(root.lockFile) ?? []) plan.keep.add(key);
    }
    // What the root held when its run wrote it stays too: a lockfile rewritten by a checkout still has them.
    for (const key of root.keys) plan.keep.add(key);
  }
  return plan;
}

export async function cacheGcCommand(
  file: string | undefined,
  flags: { wait?: string; forgetMissing?: boolean },
): Promise<number> {
  const pipeline = loadOrExit(file);
  const wait = Number(flags.wait ?? 0);
  const { plan, report } = await withLockedStore(pipeline, 'fer-dag cache gc', wait, async (store) => {
    const plan = planRoots(pipeline, store, Boolean(flags.forgetMissing));
    return { plan, report: collectGarbage(store, plan.keep) };
  });
  const out = process.stdout;
  const listed = plan.kept.length ? `: ${plan.kept.join(', ')}` : '';
  out.write(`roots: ${plan.kept.length} lockfiles use this store${listed}\n`);
  for (const line of plan.unreadable) out.write(`  unreadable  ${line}: the results its root last named are kept\n`);
  for (const line of plan.missing) {
    out.write(`  missing  ${line}; pass --forget-missing if that pipeline is gone for good\n`);
  }
  for (const line of plan.forgotten) out.write(`  forgot   ${line}: its lockfile is gone\n`);
  out.write(
    `kept ${report.recordsKept} stage results and ${report.objectsKept} objects\n` +
      `removed ${report.recordsRemoved} stage results and ${report.objectsRemoved} objects ` +
      `(${(report.bytesFreed / 1e6).toFixed(1)} MB)\n`,
  );
  return EXIT_OK;
}
