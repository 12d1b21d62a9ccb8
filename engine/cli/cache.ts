import * as fs from 'node:fs';
import * as path from 'node:path';
import { collectGarbage, verifyStore } from '../../cache/maintenance.js';
import { readLockfile } from '../lockfile.js';
import { EXIT_OK, EXIT_STAGE_FAILED, loadOrExit, withLockedStore } from './common.js';

export async function cacheVerifyCommand(file: string | undefined, flags: { wait?: string }): Promise<number> {
  const pipeline = loadOrExit(file);
  const report = await withLockedStore(pipeline, 'fer-dag cache verify', Number(flags.wait ?? 0), (store) => verifyStore(store));
  const out = process.stdout;
  out.write(`checked ${report.objectsChecked} objects in ${path.relative(process.cwd(), pipeline.storeDir) || '.'}\n`);
  for (const c of report.corrupt) out.write(`  corrupt  ${c.hash} (its bytes hash to ${c.actual.slice(0, 12)}…): removed\n`);
  for (const r of report.droppedRecords) out.write(`  dropped  result of stage ${r.stage} (${r.key.slice(0, 12)}…): the next run recomputes it\n`);
  if (report.droppedItems) out.write(`  dropped  ${report.droppedItems} per-item memo entries that needed a removed blob\n`);
  out.write(report.corrupt.length ? `${report.corrupt.length} corrupt object(s) found and removed\n` : 'store is consistent\n');
  return report.corrupt.length ? EXIT_STAGE_FAILED : EXIT_OK;
}

/** gc keeps what any lockfile beside the pipeline references: pipelines sharing a store keep each other's results. */
export async function cacheGcCommand(file: string | undefined, flags: { wait?: string }): Promise<number> {
  const pipeline = loadOrExit(file);
  const lockFiles = fs
    .readdirSync(pipeline.dir)
    .filter((f) => f.endsWith('.lock.json'))
    .map((f) => path.join(pipeline.dir, f));
  const keep = new Set<string>();
  for (const lockFile of lockFiles) for (const entry of Object.values(readLockfile(lockFile)?.stages ?? {})) keep.add(entry.key);
  const report = await withLockedStore(pipeline, 'fer-dag cache gc', Number(flags.wait ?? 0), async (store) => collectGarbage(store, keep));
  process.stdout.write(
    `kept ${report.recordsKept} stage results and ${report.objectsKept} objects referenced by ${lockFiles.map((f) => path.relative(process.cwd(), f)).join(', ') || 'no lockfile'}\n` +
      `removed ${report.recordsRemoved} stage results and ${report.objectsRemoved} objects (${(report.bytesFreed / 1e6).toFixed(1)} MB)\n`,
  );
  return EXIT_OK;
}
