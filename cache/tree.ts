import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashJson, type Hash } from './hash.js';
import type { StatCache } from './stat-cache.js';
import { STAMP_FIELDS, stampAt, statMany } from './stat-many.js';

export interface TreeEntry {
  hash: Hash;
  size: number;
}

/** A stage output or a source dataset: relative path (always with `/`) → blob. */
export type Tree = Record<string, TreeEntry>;

/**
 * The hash of a tree is the hash of its sorted (path, hash) listing in canonical JSON: paths and hashes are
 * delimited, so no two different trees can produce the same hashed text.
 */
export function treeHash(tree: Tree): Hash {
  const listing = Object.keys(tree)
    .sort()
    .map((rel) => [rel, tree[rel]!.hash]);
  return hashJson(listing);
}

/** Files under a directory (hidden names skipped: `.DS_Store`, `.git`), as sorted `/`-separated relative paths. */
export function listFiles(dir: string): { rel: string; abs: string }[] {
  return listRelative(dir).map((rel) => ({ rel, abs: path.join(dir, rel) }));
}

function listRelative(dir: string): string[] {
  const files: string[] = [];
  // Symlinked folders are followed (datasets often live on another disk); a link back into a folder
  // already being walked is not, so a link cycle cannot loop.
  const walking = new Set<string>();
  const walk = (abs: string, rel: string) => {
    const real = fs.realpathSync(abs);
    if (walking.has(real)) return;
    walking.add(real);
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const childAbs = `${abs}/${entry.name}`;
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const kind = entry.isSymbolicLink() ? fs.statSync(childAbs, { throwIfNoEntry: false }) : entry;
      if (kind?.isDirectory()) walk(childAbs, childRel);
      else if (kind?.isFile()) files.push(childRel);
    }
    walking.delete(real);
  };
  walk(dir, '');
  // Default sort compares UTF-16 code units: the same order on every platform and locale.
  return files.sort();
}

export interface HashedPath {
  readonly files: Tree;
  readonly hash: Hash;
  /** Number of files (known without building `files`). */
  readonly count: number;
}

/**
 * Hashes a file or a directory of files into a tree, through the stat cache. A file yields a tree with the
 * single entry `prefix` (or its own name); a directory yields its files under `prefix/`. This is the no-op
 * rerun's hot path: one stat per file (on worker threads for large folders); when the listing and every stat
 * equal the saved shard the saved hashes are taken wholesale, else each file is looked up; and the tree hash
 * is reused when no file under the root changed.
 */
export async function hashPath(statCache: StatCache, target: string, prefix = ''): Promise<HashedPath> {
  const st = fs.statSync(target);
  if (st.isFile()) {
    const name = prefix || path.basename(target);
    const files: Tree = { [name]: { hash: await statCache.hashFile(path.dirname(target), target, st), size: st.size } };
    return { files, hash: treeHash(files), count: 1 };
  }
  const rels = listRelative(target);
  const base = `${target}/`;
  const keyPrefix = prefix ? `${prefix}/` : '';
  const pending = statMany(base, rels);
  statCache.preload(target); // reads the shard while other threads stat the files
  const stamps = await pending;
  const unchanged = statCache.unchangedHashes(target, rels, stamps);
  const remembered = statCache.rememberedTree(target, prefix);
  if (unchanged && remembered) {
    // Nothing changed: the tree hash is known, and the listing is built only if someone reads it (a stage
    // that runs), not on a no-op rerun, where building 70,000 entries was a fifth of the time.
    let files: Tree | undefined;
    return {
      hash: remembered,
      count: rels.length,
      get files() {
        files ??= Object.fromEntries(rels.map((rel, i) => [keyPrefix + rel, { hash: unchanged(i), size: stamps[i * STAMP_FIELDS]! }]));
        return files;
      },
    };
  }
  const files: Tree = {};
  for (const [i, rel] of rels.entries()) {
    const stamp = stampAt(stamps, i);
    const hash = statCache.lookup(target, rel, stamp) ?? (await statCache.hashAndRemember(target, rel, base + rel, stamp));
    files[keyPrefix + rel] = { hash, size: stamp.size };
  }
  statCache.retainOnly(target, new Set(rels));
  let hash = statCache.rememberedTree(target, prefix);
  if (!hash) {
    hash = treeHash(files);
    statCache.rememberTree(target, prefix, hash);
  }
  return { files, hash, count: rels.length };
}
