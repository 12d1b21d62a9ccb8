import * as fs from 'node:fs';
import * as path from 'node:path';
import { flushFileSync, writeFileAtomic } from './atomic.js';
import { sha256, stableJson, type Hash } from './hash.js';

/**
 * The store's roots, as git's refs: one small file per lockfile that uses the store, `roots/<id>.json`,
 * written (durably) each time a run writes that lockfile. It names the lockfile and the stage keys it held
 * then, so `cache gc` keeps the results of every pipeline sharing the store, and still knows what a root
 * held when its lockfile is gone (a deleted or moved pipeline folder, an unmounted disk).
 */
export interface StoreRoot {
  lockFile: string;
  keys: Hash[];
  writtenAt: string;
}

export interface ListedRoot {
  id: string;
  file: string;
  root?: StoreRoot;
}

const rootsDir = (storeRoot: string) => path.join(storeRoot, 'roots');

/** The lockfile's real location: the same lockfile reached through a symlinked folder is one root. */
function canonicalLockFile(lockFile: string): string {
  const dir = path.dirname(path.resolve(lockFile));
  let real = dir;
  try {
    real = fs.realpathSync(dir);
  } catch {
    // The folder is gone: the path as given is the best name it has.
  }
  return path.join(real, path.basename(lockFile));
}

export function rootId(lockFile: string): string {
  return sha256(canonicalLockFile(lockFile)).slice(0, 32);
}

/** Records (durably) what `lockFile` holds now; a no-op run, whose keys did not change, writes nothing. */
export function putRoot(storeRoot: string, lockFile: string, keys: Iterable<Hash>): void {
  const root: StoreRoot = {
    lockFile: canonicalLockFile(lockFile),
    keys: [...new Set(keys)].sort(),
    writtenAt: new Date().toISOString(),
  };
  const file = path.join(rootsDir(storeRoot), `${rootId(lockFile)}.json`);
  const known = readRoot(file);
  if (known?.lockFile === root.lockFile && known.keys.join() === root.keys.join()) return;
  writeFileAtomic(file, stableJson(root), { tempDir: path.join(storeRoot, 'tmp'), flush: true });
  flushFileSync(path.dirname(file));
}

export function listRoots(storeRoot: string): ListedRoot[] {
  const dir = rootsDir(storeRoot);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => {
      const file = path.join(dir, name);
      const root = readRoot(file);
      return root ? { id: name.slice(0, -5), file, root } : { id: name.slice(0, -5), file };
    });
}

function readRoot(file: string): StoreRoot | undefined {
  try {
    const root = JSON.parse(fs.readFileSync(file, 'utf8')) as StoreRoot;
    return typeof root.lockFile === 'string' && Array.isArray(root.keys) ? root : undefined;
  } catch {
    return undefined;
  }
}

export function dropRoot(storeRoot: string, id: string): void {
  fs.rmSync(path.join(rootsDir(storeRoot), `${id}.json`), { force: true });
}
