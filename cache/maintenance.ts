import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256File, type Hash } from './hash.js';
import type { Store } from './store.js';

export interface VerifyReport {
  objectsChecked: number;
  corrupt: { hash: Hash; file: string; actual: Hash }[];
  /** Records that needed a dropped or missing blob: those stages run again next time. */
  droppedRecords: { stage: string; key: Hash }[];
  droppedItems: number;
}

function* objectFiles(store: Store): Iterable<{ hash: Hash; file: string }> {
  const root = store.objectsDir;
  if (!fs.existsSync(root)) return;
  for (const prefix of fs.readdirSync(root)) {
    const dir = path.join(root, prefix);
    if (prefix.length !== 2 || !fs.statSync(dir).isDirectory()) continue;
    for (const name of fs.readdirSync(dir)) yield { hash: `${prefix}${name}`, file: path.join(dir, name) };
  }
}

const isBlobName = (hash: string) => /^[0-9a-f]{64}$/.test(hash);

/**
 * Re-hashes every blob. A blob whose bytes no longer match its name is deleted, and so is every stage record
 * and memo entry that needs it, so the next run recomputes exactly what was lost instead of using bad bytes.
 */
export async function verifyStore(store: Store, onProgress?: (done: number) => void): Promise<VerifyReport> {
  const report: VerifyReport = { objectsChecked: 0, corrupt: [], droppedRecords: [], droppedItems: 0 };
  for (const { hash, file } of objectFiles(store)) {
    if (!isBlobName(hash)) continue; // a temp file of an interrupted write; gc removes those
    const actual = await sha256File(file);
    report.objectsChecked++;
    if (actual !== hash) {
      report.corrupt.push({ hash, file, actual });
      fs.rmSync(file, { force: true });
    }
    if (report.objectsChecked % 1000 === 0) onProgress?.(report.objectsChecked);
  }
  for (const key of store.listRecordKeys()) {
    const record = store.getRecord(key);
    if (!record || store.recordBlobs(record).some((b) => !store.hasBlob(b))) {
      store.dropRecord(key);
      report.droppedRecords.push({ stage: record?.stage ?? '(unreadable record)', key });
    }
  }
  for (const namespace of store.listMemoNamespaces()) {
    report.droppedItems += store.memo(namespace).rewrite((blobs) => blobs.every((b) => store.hasBlob(b)));
  }
  return report;
}

export interface GcReport {
  recordsKept: number;
  recordsRemoved: number;
  objectsKept: number;
  objectsRemoved: number;
  bytesFreed: number;
}

/**
 * Keeps the records named in `keepKeys` (what the lockfiles reference), every blob they need and every
 * memo entry (small, and what makes adding a dataset cheap) with its blobs; removes everything else,
 * including temp files left by interrupted writes. The caller holds the store lock.
 */
export function collectGarbage(store: Store, keepKeys: Set<Hash>): GcReport {
  const report: GcReport = { recordsKept: 0, recordsRemoved: 0, objectsKept: 0, objectsRemoved: 0, bytesFreed: 0 };
  const live = new Set<Hash>();
  for (const key of store.listRecordKeys()) {
    const record = keepKeys.has(key) ? store.getRecord(key) : undefined;
    if (record) {
      report.recordsKept++;
      for (const blob of store.recordBlobs(record)) live.add(blob);
    } else {
      store.dropRecord(key);
      report.recordsRemoved++;
    }
  }
  for (const namespace of store.listMemoNamespaces()) {
    for (const entry of store.memo(namespace).list()) for (const blob of entry.blobs) live.add(blob);
  }
  for (const { hash, file } of objectFiles(store)) {
    if (isBlobName(hash) && live.has(hash)) {
      report.objectsKept++;
      continue;
    }
    report.bytesFreed += fs.statSync(file).size;
    fs.rmSync(file, { force: true });
    report.objectsRemoved++;
  }
  return report;
}
