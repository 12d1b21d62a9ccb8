import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';

/**
 * Writes go to a temporary file and are renamed into place: rename is atomic on one file system, so a reader
 * (or a run killed half-way) sees either the old file or the whole new one. Store writes keep their temporary
 * files in the store's own `tmp/` folder (same file system), so the next locked command can remove what a
 * killed writer left with one readdir instead of a walk over every blob shard.
 */
export function tempPathFor(target: string, tempDir?: string): string {
  // pid and thread id keep writers apart; the counter keeps one writer's files apart (random bytes per blob
  // showed up in profiles of merge).
  const name = `${path.basename(target)}.tmp-${process.pid}-${threadId}-${(tempCounter++).toString(36)}`;
  return tempDir ? path.join(tempDir, name) : path.join(path.dirname(target), name);
}

let tempCounter = 0;

export interface AtomicWriteOptions {
  mode?: number;
  /** Where the temporary file goes (on the target's file system); beside the target when absent. */
  tempDir?: string;
  /** fsync the data before the rename, so the new name never points at bytes that are not on the disk. */
  flush?: boolean;
}

export function writeFileAtomic(target: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const temp = tempPathFor(target, options.tempDir);
  try {
    try {
      writeTemp(temp, data, options);
    } catch (error) {
      // The folder usually exists (blob shards, records): create it only when missing, not on every write.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      fs.mkdirSync(path.dirname(temp), { recursive: true });
      writeTemp(temp, data, options);
    }
    renameCreatingFolder(temp, target);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

function writeTemp(temp: string, data: string | Uint8Array, options: AtomicWriteOptions): void {
  const fd = fs.openSync(temp, 'w', options.mode);
  try {
    fs.writeFileSync(fd, data);
    if (options.flush) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function renameCreatingFolder(temp: string, target: string): void {
  try {
    fs.renameSync(temp, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync(temp)) throw error;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.renameSync(temp, target);
  }
}

export function copyFileAtomic(source: string, target: string, options: AtomicWriteOptions = {}): void {
  const temp = tempPathFor(target, options.tempDir);
  fs.mkdirSync(path.dirname(temp), { recursive: true });
  try {
    // FICLONE makes a copy-on-write clone where the file system supports it and falls back to a copy.
    fs.copyFileSync(source, temp, fs.constants.COPYFILE_FICLONE);
    if (options.mode !== undefined) fs.chmodSync(temp, options.mode);
    if (options.flush) flushFileSync(temp);
    renameCreatingFolder(temp, target);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

/** fsync of a file, or of a folder so that the names created in it survive a power loss (as SQLite and git do). */
export function flushFileSync(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    // Windows cannot open a folder; its file systems order metadata themselves.
    if (isFolderOpenRefusal(error)) return;
    throw error;
  }
  try {
    fs.fsyncSync(fd);
  } catch (error) {
    if (!isFolderOpenRefusal(error)) throw error;
  } finally {
    fs.closeSync(fd);
  }
}

const isFolderOpenRefusal = (error: unknown) =>
  ['EISDIR', 'EPERM', 'EACCES'].includes((error as NodeJS.ErrnoException).code ?? '');

/** From this many files on, one syncfs (a flush of the whole file system) is cheaper than an fsync each. */
const SYNCFS_FROM = 512;

/**
 * fsyncs many files of one file system (a store's blobs and their shard folders). Measured on this
 * project's ext4 VM, 5000 new 2 KB files: an fsync each, one after the other, 1.7 s; 16 at a time, 0.6-1.3 s;
 * one syncfs (`sync -f`, Linux), 0.1 s. Large batches take the syncfs where it exists, as git's batch fsync
 * mode flushes once for many objects; small ones (most stages) pay a few parallel fsyncs.
 */
export async function flushFiles(files: Iterable<string>, concurrency = 16): Promise<void> {
  const queue = [...files];
  if (queue.length >= SYNCFS_FROM && syncFileSystemOf(queue[0]!)) return;
  let next = 0;
  const worker = async () => {
    while (next < queue.length) {
      const file = queue[next++]!;
      const handle = await fs.promises.open(file, 'r').catch((error: unknown) => {
        if (isFolderOpenRefusal(error)) return undefined;
        throw error;
      });
      if (!handle) continue;
      try {
        await handle.sync().catch((error: unknown) => {
          if (!isFolderOpenRefusal(error)) throw error;
        });
      } finally {
        await handle.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
}

/** syncfs(2) through coreutils' `sync -f` (Node has no binding); false where that is not available. */
function syncFileSystemOf(file: string): boolean {
  if (process.platform !== 'linux') return false;
  return spawnSync('sync', ['-f', file], { stdio: 'ignore' }).status === 0;
}
