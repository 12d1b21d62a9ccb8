import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashJson, type Hash } from './hash.js';
import type { StatCache } from './stat-cache.js';

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

/** Files under a directory (hidden names skipped: `.DS_Store`, `.git`), as sorted `/`-separated paths. */
export function listFiles(dir: string): { rel: string; abs: string }[] {
  const files: { rel: string; abs: string }[] = [];
  const walk = (abs: string, rel: string) => {
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const childAbs = path.join(abs, entry.name);
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(childAbs, childRel);
      else if (entry.isFile() || (entry.isSymbolicLink() && fs.statSync(childAbs).isFile())) files.push({ rel: childRel, abs: childAbs });
    }
  };
  walk(dir, '');
  return files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/**
 * Hashes a file or a directory of files into a tree, through the stat cache. A file yields a tree with the
 * single entry `prefix` (or its own name); a directory yields its files under `prefix/`.
 */
export async function hashPath(statCache: StatCache, target: string, prefix = ''): Promise<Tree> {
  const st = fs.statSync(target);
  const tree: Tree = {};
  if (st.isFile()) {
    tree[prefix || path.basename(target)] = { hash: await statCache.hashFile(path.dirname(target), target, st), size: st.size };
    return tree;
  }
  const files = listFiles(target);
  const live = new Set<string>();
  for (const file of files) {
    const fst = fs.statSync(file.abs);
    const rel = path.relative(target, file.abs);
    live.add(rel);
    tree[prefix ? `${prefix}/${file.rel}` : file.rel] = { hash: await statCache.hashFile(target, file.abs, fst), size: fst.size };
  }
  statCache.retainOnly(target, live);
  return tree;
}
