import * as fs from 'node:fs';
import * as path from 'node:path';
import { LRUCache } from 'lru-cache';
import { writeFileAtomic } from './atomic.js';
import { sha256, sha256File, type Hash } from './hash.js';
import type { FileStamp } from './stat-many.js';
import { decodeShard, encodeShard, hashAt, rowsOf, type SavedShard, type StatRow } from './stat-shard-file.js';

/**
 * A root's rows, and the tree hashes last computed over them by the prefix the tree was keyed with. Rows
 * are built from the saved shard only when some file is looked up one by one; until then `saved` is exact.
 */
interface Shard {
  root: string;
  trees: Record<string, Hash>;
  saved?: SavedShard;
  rows?: Map<string, StatRow>;
  dirty: boolean;
}

/** Files up to this size are read in one call; larger ones are streamed. */
const READ_WHOLE_BELOW = 8 * 1024 * 1024;

/**
 * Remembers file hashes by (size, mtime, ctime, inode), so re-hashing an unchanged 70,000-file dataset
 * costs one stat per file. Rows are grouped in shards, one per tracked root (a dataset folder, an out
 * directory); a shard is one file under `state/stat/`, loaded only when its root is hashed and written
 * back only when a row changed. An LRU bounds how many rows stay in memory.
 */
export class StatCache {
  private readonly shards: LRUCache<string, Shard>;
  /** Files actually read and hashed (the rest were answered from their stat): for tests and progress. */
  filesRead = 0;

  constructor(private readonly dir: string) {
    this.shards = new LRUCache<string, Shard>({
      maxSize: 2_000_000,
      sizeCalculation: (shard) => (shard.rows?.size ?? shard.saved?.paths.length ?? 0) + 1,
      dispose: (shard) => this.flushShard(shard),
    });
  }

  /** The remembered hash of `rel` under `root` if its stat is unchanged; synchronous, as it is the hot path. */
  lookup(root: string, rel: string, st: FileStamp): Hash | undefined {
    const row = this.rows(root).get(rel);
    if (row && row[0] === st.size && row[1] === st.mtimeMs && row[2] === st.ctimeMs && row[3] === st.ino) return row[4];
    return undefined;
  }

  /** Loads the shard of `root` now, so that later lookups do not wait for it. */
  preload(root: string): void {
    this.shard(root);
  }

  /**
   * The no-op fast path: when a folder's sorted listing and every stamp (as `statMany` lays them out) equal
   * what was saved, the saved hash of the listing's i-th file; otherwise undefined, and files are looked up one by one.
   */
  unchangedHashes(root: string, rels: readonly string[], stamps: Float64Array): ((i: number) => Hash) | undefined {
    const shard = this.shard(root);
    const saved = shard.rows ? undefined : shard.saved;
    if (!saved || saved.paths.length !== rels.length || saved.stamps.length !== stamps.length) return undefined;
    for (let i = 0; i < rels.length; i++) if (saved.paths[i] !== rels[i]) return undefined;
    for (let i = 0; i < stamps.length; i++) if (saved.stamps[i] !== stamps[i]) return undefined;
    return (i) => hashAt(saved, i);
  }

  /** Reads and hashes the file, remembering the result under `root`/`rel`. */
  async hashAndRemember(root: string, rel: string, file: string, st: FileStamp): Promise<Hash> {
    const hash = st.size < READ_WHOLE_BELOW ? sha256(fs.readFileSync(file)) : await sha256File(file);
    this.filesRead++;
    const shard = this.shard(root);
    this.rows(root).set(rel, [st.size, st.mtimeMs, st.ctimeMs, st.ino, hash]);
    shard.dirty = true;
    shard.trees = {};
    return hash;
  }

  /** Hash of `file`, reusing the remembered one when its stat is unchanged. `root` picks the shard. */
  async hashFile(root: string, file: string, stat?: fs.Stats): Promise<Hash> {
    const st = stat ?? fs.statSync(file);
    const rel = path.relative(root, file);
    return this.lookup(root, rel, st) ?? this.hashAndRemember(root, rel, file, st);
  }

  /** Drops rows of files that no longer exist under a root, so a shard does not grow forever. */
  retainOnly(root: string, live: Set<string>): void {
    const shard = this.shard(root);
    const rows = this.rows(root);
    if (rows.size === live.size && [...live].every((rel) => rows.has(rel))) return;
    for (const rel of rows.keys()) {
      if (!live.has(rel)) {
        rows.delete(rel);
        shard.dirty = true;
        shard.trees = {};
      }
    }
  }

  /** The tree hash last recorded for this root and prefix, valid only while no row of the root changed. */
  rememberedTree(root: string, prefix: string): Hash | undefined {
    return this.shard(root).trees[prefix];
  }

  rememberTree(root: string, prefix: string, hash: Hash): void {
    const shard = this.shard(root);
    if (shard.trees[prefix] === hash) return;
    shard.trees[prefix] = hash;
    shard.dirty = true;
  }

  flush(): void {
    for (const shard of this.shards.values()) this.flushShard(shard);
  }

  private shard(root: string): Shard {
    let shard = this.shards.get(root);
    if (!shard) {
      shard = this.load(root);
      this.shards.set(root, shard);
    }
    return shard;
  }

  /** The shard's rows, built from the saved arrays on first use (from then on they may change). */
  private rows(root: string): Map<string, StatRow> {
    return this.rowsIn(this.shard(root));
  }

  private rowsIn(shard: Shard): Map<string, StatRow> {
    if (!shard.rows) {
      shard.rows = shard.saved ? rowsOf(shard.saved) : new Map();
      shard.saved = undefined;
    }
    return shard.rows;
  }

  private shardFile(root: string): string {
    return path.join(this.dir, `${sha256(root).slice(0, 24)}.bin`);
  }

  private load(root: string): Shard {
    try {
      const saved = decodeShard(fs.readFileSync(this.shardFile(root)));
      if (saved?.root === root) return { root, trees: saved.trees, saved, dirty: false };
    } catch {
      // No shard yet, or an unreadable one: start empty and re-hash; the cache is only ever an optimisation.
    }
    // Shards of fer-dag 0.1 were JSON; one left beside a missing binary shard is dropped, not read.
    fs.rmSync(this.shardFile(root).replace(/\.bin$/, '.json'), { force: true });
    return { root, trees: {}, dirty: false };
  }

  private flushShard(shard: Shard): void {
    if (!shard.dirty) return;
    writeFileAtomic(
      this.shardFile(shard.root),
      encodeShard({ root: shard.root, rows: this.rowsIn(shard), trees: shard.trees }),
    );
    shard.dirty = false;
  }
}
