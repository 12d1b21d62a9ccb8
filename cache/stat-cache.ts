import * as fs from 'node:fs';
import * as path from 'node:path';
import { LRUCache } from 'lru-cache';
import { writeFileAtomic } from './atomic.js';
import { sha256, sha256File, type Hash } from './hash.js';
import type { FileStamp } from './stat-many.js';
import { decodeShard, encodeShard, type ShardContent } from './stat-shard-file.js';

/** A root's rows, and the tree hashes last computed over them by the prefix the tree was keyed with. */
interface Shard extends ShardContent {
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
      sizeCalculation: (shard) => shard.rows.size + 1,
      dispose: (shard) => this.flushShard(shard),
    });
  }

  /** The remembered hash of `rel` under `root` if its stat is unchanged; synchronous, as it is the hot path. */
  lookup(root: string, rel: string, st: FileStamp): Hash | undefined {
    const row = this.shard(root).rows.get(rel);
    if (row && row[0] === st.size && row[1] === st.mtimeMs && row[2] === st.ctimeMs && row[3] === st.ino) return row[4];
    return undefined;
  }

  /** Loads the shard of `root` now, so that later lookups do not wait for it. */
  preload(root: string): void {
    this.shard(root);
  }

  /** Reads and hashes the file, remembering the result under `root`/`rel`. */
  async hashAndRemember(root: string, rel: string, file: string, st: FileStamp): Promise<Hash> {
    const hash = st.size < READ_WHOLE_BELOW ? sha256(fs.readFileSync(file)) : await sha256File(file);
    this.filesRead++;
    const shard = this.shard(root);
    shard.rows.set(rel, [st.size, st.mtimeMs, st.ctimeMs, st.ino, hash]);
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
    if (shard.rows.size === live.size && [...live].every((rel) => shard.rows.has(rel))) return;
    for (const rel of shard.rows.keys()) {
      if (!live.has(rel)) {
        shard.rows.delete(rel);
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

  private shardFile(root: string): string {
    return path.join(this.dir, `${sha256(root).slice(0, 24)}.bin`);
  }

  private load(root: string): Shard {
    try {
      const saved = decodeShard(fs.readFileSync(this.shardFile(root)));
      if (saved?.root === root) return { ...saved, dirty: false };
    } catch {
      // No shard yet, or an unreadable one: start empty and re-hash; the cache is only ever an optimisation.
    }
    // Shards of fer-dag 0.1 were JSON; one left beside a missing binary shard is dropped, not read.
    fs.rmSync(this.shardFile(root).replace(/\.bin$/, '.json'), { force: true });
    return { root, rows: new Map(), trees: {}, dirty: false };
  }

  private flushShard(shard: Shard): void {
    if (!shard.dirty) return;
    writeFileAtomic(this.shardFile(shard.root), encodeShard(shard));
    shard.dirty = false;
  }
}
