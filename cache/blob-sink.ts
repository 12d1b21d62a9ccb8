import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { sha256, type Hash } from './hash.js';

/** Blobs are read-only once written: a stray write to an exported hard link cannot corrupt the cache. */
export const BLOB_MODE = 0o444;

/**
 * Where worker threads put blobs. A stage whose per-image work runs on worker threads hands its sink
 * (a plain, cloneable object) to them; they store through `putBlob` below and the stage declares each
 * hash with `output.reference()`. The main thread then never becomes the bottleneck of a parallel stage.
 */
export interface BlobSink {
  readonly objectsDir: string;
}

export function blobPathIn(sink: BlobSink, hash: Hash): string {
  return path.join(sink.objectsDir, hash.slice(0, 2), hash.slice(2));
}

/** Stores bytes under their sha256 (atomically; nothing happens when the blob is already there). */
export function putBlob(sink: BlobSink, data: string | Uint8Array): Hash {
  const hash = sha256(data);
  const target = blobPathIn(sink, hash);
  if (!fs.existsSync(target)) writeFileAtomic(target, data, BLOB_MODE);
  return hash;
}
