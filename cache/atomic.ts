import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';

/**
 * Writes go to a temporary file beside the target and are renamed into place: rename is atomic on one
 * file system, so a reader (or a run killed half-way) sees either the old file or the whole new one.
 */
export function tempPathFor(target: string): string {
  // pid and thread id keep writers apart; the counter keeps one writer's files apart (random bytes per blob
  // showed up in profiles of merge).
  return `${target}.tmp-${process.pid}-${threadId}-${(tempCounter++).toString(36)}`;
}

let tempCounter = 0;

export function writeFileAtomic(target: string, data: string | Uint8Array, mode?: number): void {
  const temp = tempPathFor(target);
  const options = mode === undefined ? undefined : { mode };
  try {
    try {
      fs.writeFileSync(temp, data, options);
    } catch (error) {
      // The folder usually exists (blob shards, records): create it only when missing, not on every write.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(temp, data, options);
    }
    fs.renameSync(temp, target);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

export function copyFileAtomic(source: string, target: string, mode?: number): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = tempPathFor(target);
  try {
    // FICLONE makes a copy-on-write clone where the file system supports it and falls back to a copy.
    fs.copyFileSync(source, temp, fs.constants.COPYFILE_FICLONE);
    if (mode !== undefined) fs.chmodSync(temp, mode);
    fs.renameSync(temp, target);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}
