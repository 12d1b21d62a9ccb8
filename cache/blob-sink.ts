import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { sha256, type Hash } from './hash.js';

/**
 * Blobs are read-only once written, against accidental writes. It does not stop root or a program that
 * chmods first, so nothing outside the store may share a blob's inode (export copies unless --link).
 */
export const BLOB_MODE = 0o444;

/**
 * Where worker threads put blobs. A stage whose per-image work runs on worker threads hands its sink
 * (a plain, cloneable object) to them; they store through `putBlob` below and the stage declares each
 * hash with `output.reference()`. The main thread then never becomes the bottleneck of a parallel stage.
 */
export interface BlobSink {
  readonly objectsDir: string;
  /** The store's folder for temporary files (emptied by the next locked command after a kill). */
  readonly tempDir: string;
}

export function blobPathIn(sink: BlobSink, hash: Hash): string {
  return path.join(sink.objectsDir, hash.slice(0, 2), hash.slice(2));
}

/** True when the blob's path holds a regular file (a folder, a link or anything else there is not a blob). */
export function blobFileExists(file: string): boolean {
  return fs.lstatSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}

/**
 * Stores bytes under their sha256 (atomically; nothing happens when the blob is already there). Something
 * that is not a file at the blob's path (a folder someone made) is removed so the blob can be written.
 */
export function putBlob(sink: BlobSink, data: string | Uint8Array): Hash {
  const hash = sha256(data);
  const target = blobPathIn(sink, hash);
  const existing = fs.lstatSync(target, { throwIfNoEntry: false });
  if (existing?.isFile()) return hash;
  if (existing) fs.rmSync(target, { recursive: true, force: true });
  writeFileAtomic(target, data, { mode: BLOB_MODE, tempDir: sink.tempDir });
  return hash;
}
