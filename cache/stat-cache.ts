import * as fs from 'node:fs';
import * as path from 'node:path';
import { LRUCache } from 'lru-cache';
import { writeFileAtomic } from './atomic.js';
import { sha256, sha256File, type Hash } from './hash.js';

/** What a file looked like when it was hashed; if all of it still matches, the hash is reused unread. */
type StatRow = [size: number, mtimeMs: number, ctimeMs: number, ino: number, hash: Hash];

interface Shard {
  root: string;
  rows: Map<string, StatRow>;
  dirty: boolean;
}

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

  /** Hash of `file`, reusing the remembered one when its stat is unchanged. `root` picks the shard. */
  async hashFile(root: string, file: string, stat?: fs.Stats): Promise<Hash> {
    const shard = this.shard(root);
    const st = stat ?? fs.statSync(file);
    const rel = path.relative(root, file);
    const row = shard.rows.get(rel);
    if (row && row[0] === st.size && row[1] === st.mtimeMs && row[2] === st.ctimeMs && row[3] === st.ino) return row[4];
    const hash = await sha256File(file);
    this.filesRead++;
    shard.rows.set(rel, [st.size, st.mtimeMs, st.ctimeMs, st.ino, hash]);
    shard.dirty = true;
    return hash;
  }

  /** Drops rows of files that no longer exist under a root, so a shard does not grow forever. */
  retainOnly(root: string, live: Set<string>): void {
    const shard = this.shard(root);
    for (const rel of shard.rows.keys()) {
      if (!live.has(rel)) {
        shard.rows.delete(rel);
        shard.dirty = true;
      }
    }
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
    return path.join(this.dir, `${sha256(root).slice(0, 24)}.json`);
  }

  private load(root: string): Shard {
    const rows = new Map<string, StatRow>();
    try {
      const saved = JSON.parse(fs.readFileSync(this.shardFile(root), 'utf8')) as { root: string; rows: [string, StatRow][] };
      if (saved.root === root) for (const [rel, row] of saved.rows) rows.set(rel, row);
    } catch {
      // No shard yet, or an unreadable one: start empty and re-hash; the cache is only ever an optimisation.
    }
    return { root, rows, dirty: false };
  }

  private flushShard(shard: Shard): void {
    if (!shard.dirty) return;
    writeFileAtomic(this.shardFile(shard.root), JSON.stringify({ root: shard.root, rows: [...shard.rows] }));
    shard.dirty = false;
  }
}
