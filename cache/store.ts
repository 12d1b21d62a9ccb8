import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyFileAtomic, tempPathFor, writeFileAtomic } from './atomic.js';
import { BLOB_MODE, blobPathIn, putBlob, type BlobSink } from './blob-sink.js';
import { sha256File, stableJson, type Hash } from './hash.js';
import { ItemMemo } from './memo.js';
import { StatCache } from './stat-cache.js';
import type { Tree } from './tree.js';

/** What a finished stage left behind: written last, so its presence means the whole run completed. */
export interface StageRecord {
  recordVersion: 1;
  key: Hash;
  stage: string;
  type: string;
  version: string;
  /** The object the key was computed from, kept so `status` and `audit` can say what changed. */
  material: Record<string, unknown>;
  outputs: Tree;
  treeHash: Hash;
  /** A blob listing further blobs the outputs point at (e.g. every image of a manifest), one hash a line. */
  refs?: Hash;
  metrics?: Record<string, unknown>;
  log?: { stdout?: Hash; stderr?: Hash; tail?: string };
  runtime: Record<string, string>;
  durationMs: number;
  finishedAt: string;
}


/**
 * The content-addressed store (default `.fer-dag/` beside the pipeline):
 *   objects/ab/cdef…   blobs by sha256, read-only
 *   runs/<key>.json    stage records
 *   items/<ns>/…       per-item memo (see memo.ts)
 *   state/stat/…       stat cache shards
 *   lock               the one writer's pid (see lock.ts)
 */
export class Store {
  readonly statCache: StatCache;
  /** Where blobs go; worker threads get this (see blob-sink.ts). */
  readonly blobSink: BlobSink;
  private readonly memos = new Map<string, ItemMemo>();

  constructor(readonly root: string) {
    this.statCache = new StatCache(path.join(root, 'state', 'stat'));
    this.blobSink = { objectsDir: path.join(root, 'objects') };
  }

  get objectsDir(): string {
    return this.blobSink.objectsDir;
  }


  blobPath(hash: Hash): string {
    return blobPathIn(this.blobSink, hash);
  }

  hasBlob(hash: Hash): boolean {
    return fs.existsSync(this.blobPath(hash));
  }

  putBytes(data: string | Uint8Array): Hash {
    return putBlob(this.blobSink, data);
  }

  /** Copies a file into the store; `knownHash` skips re-reading when the caller just hashed it. */
  async putFile(file: string, knownHash?: Hash): Promise<Hash> {
    const hash = knownHash ?? (await sha256File(file));
    const target = this.blobPath(hash);
    if (!fs.existsSync(target)) {
      copyFileAtomic(file, target, BLOB_MODE);
      // The file may have changed between hashing and copying; never store bytes under the wrong name.
      if ((await sha256File(target)) !== hash) {
        fs.rmSync(target, { force: true });
        throw new Error(`${file} changed while it was being stored; run again`);
      }
    }
    return hash;
  }

  readBlob(hash: Hash): Buffer {
    return fs.readFileSync(this.blobPath(hash));
  }

  /** Writes a blob's bytes to a workspace path (a copy, so editing it can never damage the store). */
  restoreBlob(hash: Hash, target: string): void {
    const temp = tempPathFor(target);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(this.blobPath(hash), temp, fs.constants.COPYFILE_FICLONE);
    fs.chmodSync(temp, 0o644);
    fs.renameSync(temp, target);
  }

  recordPath(key: Hash): string {
    return path.join(this.root, 'runs', `${key}.json`);
  }

  getRecord(key: Hash): StageRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.recordPath(key), 'utf8')) as StageRecord;
    } catch {
      return undefined;
    }
  }

  putRecord(record: StageRecord): void {
    writeFileAtomic(this.recordPath(record.key), stableJson(record));
  }

  dropRecord(key: Hash): void {
    fs.rmSync(this.recordPath(key), { force: true });
  }

  listRecordKeys(): Hash[] {
    const dir = path.join(this.root, 'runs');
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((f) => /^[0-9a-f]{64}\.json$/.test(f))
      .map((f) => f.slice(0, 64));
  }

  /** Every blob hash a record needs: its output files, its refs list and everything on it, its logs. */
  recordBlobs(record: StageRecord): Hash[] {
    const blobs = Object.values(record.outputs).map((e) => e.hash);
    if (record.log?.stdout) blobs.push(record.log.stdout);
    if (record.log?.stderr) blobs.push(record.log.stderr);
    if (record.refs) {
      blobs.push(record.refs);
      if (this.hasBlob(record.refs)) blobs.push(...readRefs(this.readBlob(record.refs)));
    }
    return blobs;
  }

  memo(namespace: string): ItemMemo {
    let memo = this.memos.get(namespace);
    if (!memo) {
      memo = new ItemMemo(path.join(this.root, 'items', namespace));
      this.memos.set(namespace, memo);
    }
    return memo;
  }

  listMemoNamespaces(): string[] {
    const dir = path.join(this.root, 'items');
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => !n.startsWith('.')) : [];
  }

  /** Persists what is only in memory (stat cache shards, open memo segments). */
  close(): void {
    this.statCache.flush();
    for (const memo of this.memos.values()) memo.close();
  }
}

export function readRefs(data: Buffer): Hash[] {
  return data.toString('utf8').split('\n').filter((line) => line.length === 64);
}
