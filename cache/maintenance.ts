import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256File, type Hash } from './hash.js';
import type { Store } from './store.js';

export interface VerifyReport {
  objectsChecked: number;
  /** Blobs whose bytes no longer match their name, or that are not files (a folder at a blob's path). */
  corrupt: { hash: Hash; file: string; problem: string }[];
  /** Records dropped (damaged, or needing a dropped or missing blob): those stages run again next time. */
  droppedRecords: { stage: string; key: Hash; reason: string }[];
  /** Memo entries dropped because a blob they need is gone. */
  droppedItems: number;
  /** Memo lines that failed their checksum (edited or damaged): dropped. */
  rejectedItems: number;
  /** Temporary files that killed writes left behind: removed. */
  strayTemps: number;
  /** Records written before checksums that were found complete and rewritten with one. */
  upgradedRecords: number;
}

/** True when verify removed anything a later run would have used: verify then exits 1. */
export const verifyDroppedAnything = (r: VerifyReport): boolean =>
  r.corrupt.length > 0 || r.droppedRecords.length > 0 || r.droppedItems > 0 || r.rejectedItems > 0;

const isBlobName = (hash: string) => /^[0-9a-f]{64}$/.test(hash);
const isTempName = (name: string) => name.includes('.tmp-');

/** Everything in the blob shards; temporary files of older versions (written beside the blob) included. */
function* shardEntries(store: Store): Iterable<{ name: string; file: string; isFile: boolean }> {
  const root = store.objectsDir;
  if (!fs.existsSync(root)) return;
  for (const prefix of fs.readdirSync(root)) {
    const dir = path.join(root, prefix);
    if (prefix.length !== 2 || !fs.statSync(dir).isDirectory()) continue;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      yield { name: `${prefix}${entry.name}`, file: path.join(dir, entry.name), isFile: entry.isFile() };
    }
  }
}

/**
 * Re-hashes every blob and checks every record and memo entry. A blob whose bytes no longer match its name
 * is deleted, and so is every record and memo entry that needs it, so the next run recomputes exactly what
 * was lost instead of using bad bytes. The caller holds the store lock.
 */
export async function verifyStore(store: Store, onProgress?: (done: number) => void): Promise<VerifyReport> {
  const report: VerifyReport = {
    objectsChecked: 0,
    corrupt: [],
    droppedRecords: [],
    droppedItems: 0,
    rejectedItems: 0,
    strayTemps: 0,
    upgradedRecords: 0,
  };
  report.strayTemps += store.removeStrayTemps();
  for (const { name, file, isFile } of shardEntries(store)) {
    if (!isBlobName(name)) {
      if (isTempName(name)) {
        fs.rmSync(file, { recursive: true, force: true });
        report.strayTemps++;
      }
      continue;
    }
    report.objectsChecked++;
    const actual = isFile ? await sha256File(file) : undefined;
    if (actual !== name) {
      const problem = actual ? `its bytes hash to ${actual.slice(0, 12)}…` : 'it is not a file';
      report.corrupt.push({ hash: name, file, problem });
      fs.rmSync(file, { recursive: true, force: true });
    }
    if (report.objectsChecked % 1000 === 0) onProgress?.(report.objectsChecked);
  }
  for (const key of store.listRecordKeys()) {
    const read = store.readRecord(key);
    if (read.state !== 'ok') {
      store.dropRecord(key);
      const stage = read.state === 'damaged' ? (read.stage ?? '(unknown)') : '(unknown)';
      report.droppedRecords.push({ stage, key, reason: read.state === 'damaged' ? read.reason : 'it is gone' });
      continue;
    }
    const missing = store.missingBlobs(read.record);
    if (missing.length) {
      store.dropRecord(key);
      const first = `${missing[0]!.slice(0, 12)}…`;
      const reason = `${missing.length} blob(s) it needs are missing (${first})`;
      report.droppedRecords.push({ stage: read.record.stage, key, reason });
    } else if (!read.verified) {
      await store.putRecord(read.record);
      report.upgradedRecords++;
    }
  }
  for (const namespace of store.listMemoNamespaces()) {
    const memo = store.memo(namespace);
    report.droppedItems += memo.rewrite((blobs) => blobs.every((b) => store.hasBlob(b)));
    report.rejectedItems += memo.rejected;
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
 * Keeps the records named in `keepKeys` (what the roots reference), every blob they need and every memo
 * entry (small, and what makes adding a dataset cheap) with its blobs; removes everything else, including
 * temp files left by interrupted writes. The caller holds the store lock and read the roots under it.
 */
export function collectGarbage(store: Store, keepKeys: Set<Hash>): GcReport {
  const report: GcReport = { recordsKept: 0, recordsRemoved: 0, objectsKept: 0, objectsRemoved: 0, bytesFreed: 0 };
  store.removeStrayTemps();
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
  for (const { name, file, isFile } of shardEntries(store)) {
    if (isFile && isBlobName(name) && live.has(name)) {
      report.objectsKept++;
      continue;
    }
    report.bytesFreed += fs.lstatSync(file).size;
    fs.rmSync(file, { recursive: true, force: true });
    report.objectsRemoved++;
  }
  return report;
}
