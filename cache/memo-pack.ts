import type { Hash } from './hash.js';
import { ItemMemo, type Memo } from './memo.js';

/** One memo entry as a pack carries it: its namespace, key, value and the blobs the value names. */
export interface PackedEntry {
  n: string;
  k: Hash;
  v: unknown;
  b?: Hash[];
}

/**
 * Notes which memo entries a stage used (found or wrote), so its record can name them in a pack: a blob of
 * JSON lines that `push` carries to a remote with the record, and `pull` brings back into the local memo. A
 * colleague who pulls a result then adds a dataset computes only the new images, as on the machine that ran it.
 */
export class MemoUse {
  private readonly used = new Map<string, Set<Hash>>();

  constructor(private readonly memoOf: (namespace: string) => ItemMemo) {}

  /** The namespace as the stage sees it: the memo itself, with every hit and write noted. */
  view(namespace: string): Memo {
    const memo = this.memoOf(namespace);
    const note = (key: Hash) => {
      let keys = this.used.get(namespace);
      if (!keys) this.used.set(namespace, (keys = new Set()));
      keys.add(key);
    };
    return {
      get: <T>(parts: Record<string, unknown>) => {
        const key = ItemMemo.key(parts);
        const entry = memo.getByKey(key);
        if (entry) note(key);
        return entry?.value as T | undefined;
      },
      has: (parts) => memo.has(parts),
      set: (parts, value, blobs) => {
        const key = ItemMemo.key(parts);
        memo.setByKey(key, value, blobs);
        note(key);
      },
    };
  }

  /** The pack's bytes (entries sorted by namespace and key), or undefined when the stage used no memo. */
  pack(): string | undefined {
    const lines: string[] = [];
    for (const namespace of [...this.used.keys()].sort()) {
      const memo = this.memoOf(namespace);
      for (const key of [...this.used.get(namespace)!].sort()) {
        const entry = memo.getByKey(key);
        if (!entry) continue;
        const packed: PackedEntry = { n: namespace, k: key, v: entry.value };
        if (entry.blobs.length) packed.b = entry.blobs;
        lines.push(JSON.stringify(packed));
      }
    }
    return lines.length ? `${lines.join('\n')}\n` : undefined;
  }
}

/** The entries of a pack; a line that is not an entry is an error (the pack's blob is verified by its hash). */
export function readMemoPack(data: Buffer): PackedEntry[] {
  const entries: PackedEntry[] = [];
  for (const text of data.toString('utf8').split('\n')) {
    if (!text) continue;
    const entry = JSON.parse(text) as PackedEntry;
    const valid =
      typeof entry === 'object' &&
      entry !== null &&
      typeof entry.n === 'string' &&
      /^[a-z0-9-]+$/.test(entry.n) &&
      typeof entry.k === 'string' &&
      (entry.b === undefined || (Array.isArray(entry.b) && entry.b.every((b) => typeof b === 'string')));
    if (!valid) throw new Error('a memo pack holds a line that is not a memo entry');
    entries.push(entry);
  }
  return entries;
}

/** Every blob a pack's entries name. */
export function packBlobs(entries: readonly PackedEntry[]): Hash[] {
  return [...new Set(entries.flatMap((entry) => entry.b ?? []))];
}

/**
 * Adds a pack's entries to the local memo: only those not already there and whose blobs are all present
 * (`hasBlob`), so an entry never points at something missing. Returns how many were added.
 */
export function importMemoPack(
  entries: readonly PackedEntry[],
  memoOf: (namespace: string) => ItemMemo,
  hasBlob: (hash: Hash) => boolean,
): number {
  let added = 0;
  for (const entry of entries) {
    const memo = memoOf(entry.n);
    if (memo.getByKey(entry.k) || !(entry.b ?? []).every(hasBlob)) continue;
    memo.setByKey(entry.k, entry.v, entry.b ?? []);
    added++;
  }
  return added;
}
