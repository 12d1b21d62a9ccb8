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

/** An entry of a folder that is not a readable file or folder: a symlink loop, a dangling link, a FIFO. */
export interface UnreadableEntry {
  rel: string;
  reason: string;
}

/** Files under a directory (hidden names skipped: `.DS_Store`, `.git`), as sorted `/`-separated relative paths. */
export function listFiles(dir: string): { rel: string; abs: string }[] {
  return listRelative(dir).files.map((rel) => ({ rel, abs: path.join(dir, rel) }));
}

const errorCode = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? (error as Error).message;

/** Why a symlink cannot be followed: it points at itself through other links, or at nothing. */
function brokenLinkReason(abs: string, error: unknown): string {
  if (errorCode(error) === 'ELOOP') {
    return 'a symbolic link loop (ELOOP): the link leads back to itself; fix or remove it';
  }
  let target = '?';
  try {
    target = fs.readlinkSync(abs);
  } catch {
    // keeps "?": the link vanished while it was being looked at
  }
  return errorCode(error) === 'ENOENT'
    ? `a dangling symbolic link: its target "${target}" does not exist; fix or remove it`
    : `a symbolic link that cannot be followed (${errorCode(error)}); fix or remove it`;
}

/**
 * Walks a folder. What cannot be read as a file or a folder is not dropped silently: it is returned in
 * `unreadable` with the reason, so a stage can list it (a bad image is skipped and listed, never a crash).
 */
function listRelative(dir: string): { files: string[]; unreadable: UnreadableEntry[] } {
  const files: string[] = [];
  const unreadable: UnreadableEntry[] = [];
  // Symlinked folders are followed (datasets often live on another disk); a link back into a folder
  // already being walked is not, so a link cycle cannot loop.
  const walking = new Set<string>();
  const walk = (abs: string, rel: string) => {
    const real = fs.realpathSync(abs);
    if (walking.has(real)) {
      const reason = 'a symbolic link back into a folder that contains it (a cycle); not followed';
      unreadable.push({ rel: `${rel}/`, reason });
      return;
    }
    walking.add(real);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(abs, { withFileTypes: true });
    } catch (error) {
      if (!rel) throw error; // the dataset itself: its caller names it
      unreadable.push({ rel: `${rel}/`, reason: `cannot read this folder (${errorCode(error)})` });
      walking.delete(real);
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const childAbs = `${abs}/${entry.name}`;
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      let kind: fs.Dirent | fs.Stats = entry;
      if (entry.isSymbolicLink()) {
        try {
          kind = fs.statSync(childAbs);
        } catch (error) {
          unreadable.push({ rel: childRel, reason: brokenLinkReason(childAbs, error) });
          continue;
        }
      }
      if (kind.isDirectory()) walk(childAbs, childRel);
      else if (kind.isFile()) files.push(childRel);
      // A FIFO would block the reader forever, a socket or a device is no data: listed, never opened.
      else unreadable.push({ rel: childRel, reason: 'not a regular file (a FIFO, socket or device)' });
    }
    walking.delete(real);
  };
  walk(dir, '');
  // Default sort compares UTF-16 code units: the same order on every platform and locale.
  const byRel = (a: UnreadableEntry, b: UnreadableEntry) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);
  return { files: files.sort(), unreadable: unreadable.sort(byRel) };
}

/**
 * A folder's hash covers what could not be read too, so adding or fixing a broken link reruns the stages
 * that list it; a folder without such entries hashes exactly as its tree (keys of existing pipelines stay).
 */
function withUnreadable(tree: Hash, unreadable: readonly UnreadableEntry[]): Hash {
  return unreadable.length ? hashJson({ tree, unreadable: unreadable.map((u) => [u.rel, u.reason]) }) : tree;
}

export interface HashedPath {
  readonly files: Tree;
  readonly hash: Hash;
  /** Number of files (known without building `files`). */
  readonly count: number;
  /** Entries of a folder that are not readable files (broken links, FIFOs), sorted by path. */
  readonly unreadable: readonly UnreadableEntry[];
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
    return { files, hash: treeHash(files), count: 1, unreadable: [] };
  }
  const { files: rels, unreadable } = listRelative(target);
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
      hash: withUnreadable(remembered, unreadable),
      count: rels.length,
      unreadable,
      get files() {
        files ??= Object.fromEntries(
          rels.map((rel, i) => [keyPrefix + rel, { hash: unchanged(i), size: stamps[i * STAMP_FIELDS]! }]),
        );
        return files;
      },
    };
  }
  const files: Tree = {};
  for (const [i, rel] of rels.entries()) {
    const stamp = stampAt(stamps, i);
    const hash =
      statCache.lookup(target, rel, stamp) ?? (await statCache.hashAndRemember(target, rel, base + rel, stamp));
    files[keyPrefix + rel] = { hash, size: stamp.size };
  }
  statCache.retainOnly(target, new Set(rels));
  let hash = statCache.rememberedTree(target, prefix);
  if (!hash) {
    hash = treeHash(files);
    statCache.rememberTree(target, prefix, hash);
  }
  return { files, hash: withUnreadable(hash, unreadable), count: rels.length, unreadable };
}
