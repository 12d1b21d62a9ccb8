import type { Hash } from './hash.js';

/** What a file looked like when it was hashed: size, mtime, ctime, inode, and the hash. */
export type StatRow = [size: number, mtimeMs: number, ctimeMs: number, ino: number, hash: Hash];

export interface ShardContent {
  root: string;
  rows: Map<string, StatRow>;
  trees: Record<string, Hash>;
}

/**
 * A shard as read from disk, before any row is looked up: paths in sorted order, their stamps in the layout
 * of `statMany` (size, mtime, ctime, inode) and their hashes as raw bytes. A no-op rerun compares these
 * arrays wholesale and never builds a row.
 */
export interface SavedShard {
  root: string;
  trees: Record<string, Hash>;
  paths: string[];
  stamps: Float64Array;
  hashes: Buffer;
}

export function hashAt(saved: SavedShard, i: number): Hash {
  return saved.hashes.toString('hex', i * 32, i * 32 + 32);
}

/** The rows of a saved shard, for when some file did change and rows are looked up one by one. */
export function rowsOf(saved: SavedShard): Map<string, StatRow> {
  const rows = new Map<string, StatRow>();
  saved.paths.forEach((rel, i) => {
    const n = i * 4;
    rows.set(rel, [
      saved.stamps[n]!,
      saved.stamps[n + 1]!,
      saved.stamps[n + 2]!,
      saved.stamps[n + 3]!,
      hashAt(saved, i),
    ]);
  });
  return rows;
}

/**
 * A shard on disk, in a compact binary form: a no-op rerun over 70,000 files loads it on every run, and as
 * JSON (9.7 MB) reading and parsing it took longer than the 70,000 stat calls it saves.
 *   "fer-dag stat 2\n" · u32 header length · header JSON {root, trees, count} · u32 paths length ·
 *   paths joined by "\n" (UTF-8) · count × 4 float64 (size, mtime, ctime, inode) · count × 32 hash bytes
 */
const MAGIC = Buffer.from('fer-dag stat 2\n');

export function encodeShard({ root, rows, trees }: ShardContent): Buffer {
  // Sorted as folder listings are (UTF-16 order), so an unchanged folder matches the saved paths one to one.
  const rels = [...rows.keys()].sort();
  const header = Buffer.from(JSON.stringify({ root, trees, count: rels.length }));
  const paths = Buffer.from(rels.join('\n'));
  const numbers = new Float64Array(rels.length * 4);
  const hashes = Buffer.alloc(rels.length * 32);
  rels.forEach((rel, i) => {
    const [size, mtime, ctime, ino, hash] = rows.get(rel)!;
    numbers.set([size, mtime, ctime, ino], i * 4);
    hashes.write(hash, i * 32, 32, 'hex');
  });
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32LE(header.length, 0);
  lengths.writeUInt32LE(paths.length, 4);
  return Buffer.concat([
    MAGIC,
    lengths.subarray(0, 4),
    header,
    lengths.subarray(4),
    paths,
    Buffer.from(numbers.buffer),
    hashes,
  ]);
}

/** The saved shard, or undefined when the bytes are not a shard of this version (then it is rebuilt). */
export function decodeShard(bytes: Buffer): SavedShard | undefined {
  if (bytes.length < MAGIC.length + 8 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  let offset = MAGIC.length;
  const headerLength = bytes.readUInt32LE(offset);
  offset += 4;
  if (offset + headerLength + 4 > bytes.length) return undefined;
  const { root, trees, count } = JSON.parse(bytes.toString('utf8', offset, offset + headerLength)) as {
    root: string;
    trees: Record<string, Hash>;
    count: number;
  };
  offset += headerLength;
  const pathsLength = bytes.readUInt32LE(offset);
  offset += 4;
  if (offset + pathsLength > bytes.length) return undefined;
  const paths = count ? bytes.toString('utf8', offset, offset + pathsLength).split('\n') : [];
  offset += pathsLength;
  if (paths.length !== count || bytes.length !== offset + count * 64) return undefined;
  // Copied out, so the float64 view is aligned whatever the offset.
  const stamps = new Float64Array(
    bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + count * 32),
  );
  return { root, trees, paths, stamps, hashes: bytes.subarray(offset + count * 32) };
}
