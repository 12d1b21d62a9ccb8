import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyFileAtomic, flushFiles, flushFileSync, tempPathFor, writeFileAtomic } from './atomic.js';
import { BLOB_MODE, blobFileExists, blobPathIn, putBlob, type BlobSink } from './blob-sink.js';
import { sha256, sha256File, sha256FileSync, stableJson, type Hash } from './hash.js';
import { ItemMemo } from './memo.js';
import { StatCache } from './stat-cache.js';
import type { Tree } from './tree.js';

/** What a finished stage left behind: written last, so its presence means the whole run completed. */
export interface StageRecord {
  /** 2: carries `checksum`. 1: written before records were checksummed (read as unverified, see readRecord). */
  recordVersion: 1 | 2;
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
  /** A memo pack (see memo-pack.ts): the per-item memo entries the run used, carried with it by push and pull. */
  memo?: Hash;
  metrics?: Record<string, unknown>;
  log?: { stdout?: Hash; stderr?: Hash; tail?: string };
  runtime: Record<string, string>;
  durationMs: number;
  finishedAt: string;
  /** sha256 of the record's stable JSON without this field: a torn or edited record is noticed when read. */
  checksum?: Hash;
}

/** What reading a record found: `damaged` records are treated as absent, and the reason is reported. */
export type RecordRead =
  | { state: 'absent' }
  | { state: 'damaged'; reason: string; stage?: string }
  | { state: 'ok'; record: StageRecord; verified: boolean };

export type ResultLookup =
  | { state: 'absent' }
  | { state: 'damaged'; reason: string; stage?: string }
  | { state: 'incomplete'; reason: string }
  | { state: 'complete'; record: StageRecord; verified: boolean };

/** A blob whose bytes are not what its name says (or that is gone): it is removed and its stage recomputed. */
export class CorruptBlobError extends Error {
  constructor(
    readonly hash: Hash,
    readonly problem: string,
  ) {
    super(`blob ${hash.slice(0, 12)}… in the store ${problem}`);
    this.name = 'CorruptBlobError';
  }
}

/** Above this many blobs a closure is checked against one listing of the objects folder instead of a stat each. */
const LISTING_THRESHOLD = 2000;

/**
 * The content-addressed store (default `.fer-dag/` beside the pipeline):
 *   objects/ab/cdef…   blobs by sha256, read-only
 *   runs/<key>.json    stage records (checksummed)
 *   items/<ns>/…       per-item memo (see memo.ts)
 *   roots/<id>.json    every lockfile that uses this store (see roots.ts): what gc keeps
 *   state/stat/…       stat cache shards
 *   tmp/               temporary files of writes in progress; what a killed writer left is removed
 *   lock               the one writer's pid (see lock.ts)
 */
export class Store {
  readonly statCache: StatCache;
  /** Where blobs go; worker threads get this (see blob-sink.ts). */
  readonly blobSink: BlobSink;
  private readonly memos = new Map<string, ItemMemo>();
  /** Blob paths this process has fsynced: a stage's blobs are flushed once, not again by every record. */
  private readonly flushed = new Set<string>();
  private objectListing: Set<Hash> | undefined;
  private readonly reportedRejections = new Map<string, number>();

  constructor(readonly root: string) {
    this.statCache = new StatCache(path.join(root, 'state', 'stat'));
    this.blobSink = { objectsDir: path.join(root, 'objects'), tempDir: path.join(root, 'tmp') };
  }

  get objectsDir(): string {
    return this.blobSink.objectsDir;
  }

  get tempDir(): string {
    return this.blobSink.tempDir;
  }

  blobPath(hash: Hash): string {
    return blobPathIn(this.blobSink, hash);
  }

  hasBlob(hash: Hash): boolean {
    return blobFileExists(this.blobPath(hash));
  }

  putBytes(data: string | Uint8Array): Hash {
    return putBlob(this.blobSink, data);
  }

  /** Copies a file into the store; `knownHash` skips re-reading when the caller just hashed it. */
  async putFile(file: string, knownHash?: Hash): Promise<Hash> {
    const hash = knownHash ?? (await sha256File(file));
    const target = this.blobPath(hash);
    if (!blobFileExists(target)) {
      fs.rmSync(target, { recursive: true, force: true }); // a folder where the blob belongs
      copyFileAtomic(file, target, { mode: BLOB_MODE, tempDir: this.tempDir });
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

  /**
   * A blob's bytes, checked against its name: a corrupt blob throws CorruptBlobError and is removed, unless
   * `discard` is false (read-only commands such as status leave the removal to a locked one).
   */
  readVerifiedBlob(hash: Hash, discard = true): Buffer {
    if (!this.hasBlob(hash)) throw new CorruptBlobError(hash, 'is missing');
    const data = this.readBlob(hash);
    const actual = sha256(data);
    if (actual === hash) return data;
    if (discard) this.discardBlob(hash);
    const removed = discard ? ' and has been removed' : '';
    throw new CorruptBlobError(hash, `was corrupt (its bytes hash to ${actual.slice(0, 12)}…)${removed}`);
  }

  /**
   * Writes a blob's bytes to a workspace path: a copy (a reflink where the file system has them), so editing
   * it can never damage the store, and hashed before it is put in place, so bad bytes never reach the
   * workspace: a mismatch removes the blob and throws CorruptBlobError, and the caller recomputes.
   */
  restoreBlob(hash: Hash, target: string): void {
    const source = this.blobPath(hash);
    if (!blobFileExists(source)) throw new CorruptBlobError(hash, 'is missing');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const temp = tempPathFor(target);
    try {
      fs.copyFileSync(source, temp, fs.constants.COPYFILE_FICLONE);
      const actual = sha256FileSync(temp);
      if (actual !== hash) {
        this.discardBlob(hash);
        throw new CorruptBlobError(
          hash,
          `was corrupt (its bytes hash to ${actual.slice(0, 12)}…) and has been removed`,
        );
      }
      fs.chmodSync(temp, 0o644);
      fs.renameSync(temp, target);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
  }

  /** Removes whatever is at a blob's path (bad bytes, a folder): the next run writes it again. */
  discardBlob(hash: Hash): void {
    fs.rmSync(this.blobPath(hash), { recursive: true, force: true });
    this.objectListing?.delete(hash);
  }

  recordPath(key: Hash): string {
    return path.join(this.root, 'runs', `${key}.json`);
  }

  /**
   * Reads and checks a record. A version-1 record (written before checksums) is returned as unverified:
   * refusing it would recompute every stage of every existing store, while its blobs are still hashed when
   * restored; a locked run rewrites it with a checksum when it finds it fresh.
   */
  readRecord(key: Hash): RecordRead {
    let text: string;
    try {
      text = fs.readFileSync(this.recordPath(key), 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { state: 'absent' };
      return { state: 'damaged', reason: `its record cannot be read (${code})` };
    }
    return parseRecord(text, key);
  }

  /**
   * A stage's cached result if it can be reused: its record reads back intact and its whole closure
   * (outputs, logs, refs and every blob on them) is in the store. Otherwise why not, for the user.
   */
  findResult(key: Hash): ResultLookup {
    const read = this.readRecord(key);
    if (read.state !== 'ok') return read;
    const missing = this.missingBlobs(read.record);
    if (!missing.length) return { state: 'complete', record: read.record, verified: read.verified };
    const first = `${missing[0]!.slice(0, 12)}…`;
    const what = missing.length === 1 ? `blob ${first} is` : `${missing.length} blobs (${first}) are`;
    return { state: 'incomplete', reason: `its cached result is incomplete: ${what} missing from the store` };
  }

  getRecord(key: Hash): StageRecord | undefined {
    const read = this.readRecord(key);
    return read.state === 'ok' ? read.record : undefined;
  }

  /**
   * Writes a stage's record, durably: every blob it needs (and its shard folder) is fsynced first, then the
   * record's own bytes, then the rename, then the `runs/` folder — so after a power loss a record never names
   * data that did not reach the disk (the order SQLite and git use).
   */
  async putRecord(record: StageRecord): Promise<StageRecord> {
    const sealed = sealRecord(record);
    const blobs = this.recordBlobs(sealed)
      .map((hash) => this.blobPath(hash))
      .filter((file) => !this.flushed.has(file));
    await flushFiles([...blobs, ...new Set(blobs.map((file) => path.dirname(file)))]);
    for (const file of blobs) this.flushed.add(file);
    writeFileAtomic(this.recordPath(sealed.key), stableJson(sealed), { tempDir: this.tempDir, flush: true });
    flushFileSync(path.dirname(this.recordPath(sealed.key)));
    return sealed;
  }

  dropRecord(key: Hash): void {
    fs.rmSync(this.recordPath(key), { recursive: true, force: true });
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
    const blobs = directBlobs(record);
    if (record.refs) blobs.push(...(this.refsOf(record.refs) ?? []));
    return blobs;
  }

  /**
   * The blobs of a record's closure (outputs, logs, the refs list and every blob on it) that are missing
   * from the store; empty when the record's result is complete. A corrupt refs list counts as missing.
   */
  missingBlobs(record: StageRecord): Hash[] {
    const direct = directBlobs(record);
    const refs = record.refs ? this.refsOf(record.refs) : [];
    const closure = refs ? [...direct, ...refs] : direct;
    const present = closure.length > LISTING_THRESHOLD ? this.listedOrPresent() : (hash: Hash) => this.hasBlob(hash);
    const missing = closure.filter((hash) => !present(hash));
    if (!refs && !missing.includes(record.refs!)) missing.push(record.refs!);
    return missing;
  }

  /** The hashes on a refs list, or undefined when the list is missing or corrupt. */
  private refsOf(refs: Hash): Hash[] | undefined {
    try {
      return readRefs(this.readVerifiedBlob(refs, false));
    } catch (error) {
      if (error instanceof CorruptBlobError) return undefined;
      throw error;
    }
  }

  /** Membership in one listing of objects/ (shared by every check of this process), confirmed by a stat on a miss. */
  private listedOrPresent(): (hash: Hash) => boolean {
    if (!this.objectListing) {
      this.objectListing = new Set();
      for (const shard of safeReaddir(this.objectsDir)) {
        if (shard.length !== 2) continue;
        for (const entry of safeReaddir(path.join(this.objectsDir, shard), true)) {
          if (entry.isFile()) this.objectListing.add(shard + entry.name);
        }
      }
    }
    const listing = this.objectListing;
    return (hash) => listing.has(hash) || this.hasBlob(hash);
  }

  /** Removes the temporary files of writes that never finished (a killed run). The caller holds the lock. */
  removeStrayTemps(): number {
    const names = safeReaddir(this.tempDir);
    for (const name of names) fs.rmSync(path.join(this.tempDir, name), { recursive: true, force: true });
    return names.length;
  }

  /** One line per memo namespace with entries that failed their checksum since the last call (recomputed). */
  takeMemoRejections(): string[] {
    const notes: string[] = [];
    for (const [namespace, memo] of this.memos) {
      const fresh = memo.rejected - (this.reportedRejections.get(namespace) ?? 0);
      if (fresh <= 0) continue;
      this.reportedRejections.set(namespace, memo.rejected);
      notes.push(
        `${fresh} cached entries of items/${namespace} failed their checksum (edited or damaged) and were computed again`,
      );
    }
    return notes;
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

/** A record's text checked as `readRecord` checks the file's: it must parse, name `key` and match its checksum. */
export function parseRecord(text: string, key: Hash): RecordRead {
  let record: StageRecord;
  try {
    record = JSON.parse(text) as StageRecord;
  } catch {
    return { state: 'damaged', reason: 'its record is not valid JSON (torn or edited)' };
  }
  if (typeof record !== 'object' || record === null) {
    return { state: 'damaged', reason: 'its record is not an object' };
  }
  const stage = typeof record.stage === 'string' ? record.stage : undefined;
  if (record.key !== key) {
    return { state: 'damaged', reason: 'its record does not name its own key (copied or edited)', stage };
  }
  if (record.checksum === undefined && record.recordVersion === 1) return { state: 'ok', record, verified: false };
  if (record.checksum !== recordChecksum(record)) {
    return { state: 'damaged', reason: 'its record does not match its checksum (edited or damaged)', stage };
  }
  return { state: 'ok', record, verified: true };
}

/** The record as version 2, with its checksum: how every record is written, here and to a remote. */
export function sealRecord(record: StageRecord): StageRecord {
  const sealed: StageRecord = { ...record, recordVersion: 2, checksum: undefined };
  sealed.checksum = recordChecksum(sealed);
  return sealed;
}

export function recordChecksum(record: StageRecord): Hash {
  return sha256(stableJson({ ...record, checksum: undefined }));
}

/** The blobs a record names itself: outputs, logs, its refs list and memo pack (not what the refs list names). */
export function directBlobs(record: StageRecord): Hash[] {
  const blobs = Object.values(record.outputs).map((e) => e.hash);
  if (record.log?.stdout) blobs.push(record.log.stdout);
  if (record.log?.stderr) blobs.push(record.log.stderr);
  if (record.refs) blobs.push(record.refs);
  if (record.memo) blobs.push(record.memo);
  return blobs;
}

function safeReaddir(dir: string): string[];
function safeReaddir(dir: string, withTypes: true): fs.Dirent[];
function safeReaddir(dir: string, withTypes = false): string[] | fs.Dirent[] {
  try {
    return withTypes ? fs.readdirSync(dir, { withFileTypes: true }) : fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export function readRefs(data: Buffer): Hash[] {
  return data
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length === 64);
}
