import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes go to a temporary file beside the target and are renamed into place: rename is atomic on one
 * file system, so a reader (or a run killed half-way) sees either the old file or the whole new one.
 */
export function tempPathFor(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export function writeFileAtomic(target: string, data: string | Uint8Array, mode?: number): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = tempPathFor(target);
  try {
    fs.writeFileSync(temp, data, mode === undefined ? undefined : { mode });
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
