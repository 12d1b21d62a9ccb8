import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashJson, sha256, type Hash } from './hash.js';

export interface MemoEntry<T> {
  value: T;
  /** Blobs the value points at (a cropped face, a feature vector): kept by gc, checked by verify. */
  blobs: Hash[];
}

interface MemoLine {
  k: Hash;
  v: unknown;
  b?: Hash[];
}

/** What a stage sees of a memo namespace (the engine hands out views that note which entries a stage used). */
export interface Memo {
  get<T>(parts: Record<string, unknown>): T | undefined;
  has(parts: Record<string, unknown>): boolean;
  set<T>(parts: Record<string, unknown>, value: T, blobs?: Hash[]): void;
}

/**
 * Per-item memo for work done image by image (predictions, face boxes, features). An entry is keyed by the
 * hash of whatever determines it — typically (image blob, model hash, params hash) — so adding a dataset
 * computes only the new images, and a killed run keeps every item it finished.
 *
 * Entries are appended as JSON lines to a segment file of this process; a line is written with one
 * `write` call, so a kill leaves at most one torn last line, which loading skips. Each line ends with a
 * checksum of the rest of it (`"c"`), so an edited or damaged entry (a key pointing at another image) is
 * dropped and computed again instead of trusted; lines written before checksums are read as they are.
 */
export class ItemMemo implements Memo {
  private entries: Map<Hash, MemoLine> | undefined;
  private fd: number | undefined;
  /** Lines that failed their checksum when the namespace was loaded (not counted again once reported). */
  rejected = 0;

  constructor(private readonly dir: string) {}

  static key(parts: Record<string, unknown>): Hash {
    return hashJson(parts);
  }

  get<T>(parts: Record<string, unknown>): T | undefined {
    return this.load().get(ItemMemo.key(parts))?.v as T | undefined;
  }

  has(parts: Record<string, unknown>): boolean {
    return this.load().has(ItemMemo.key(parts));
  }

  set<T>(parts: Record<string, unknown>, value: T, blobs: Hash[] = []): void {
    this.setByKey(ItemMemo.key(parts), value, blobs);
  }

  /** The entry under a key already hashed (a memo pack names entries by key). */
  getByKey(key: Hash): MemoEntry<unknown> | undefined {
    const line = this.load().get(key);
    return line && { value: line.v, blobs: line.b ?? [] };
  }

  setByKey(key: Hash, value: unknown, blobs: Hash[] = []): void {
    const line: MemoLine = { k: key, v: value };
    if (blobs.length) line.b = blobs;
    this.load().set(line.k, line);
    if (this.fd === undefined) {
      fs.mkdirSync(this.dir, { recursive: true });
      this.fd = fs.openSync(path.join(this.dir, `${Date.now()}-${process.pid}.jsonl`), 'a');
    }
    fs.writeSync(this.fd, `${sealLine(line)}\n`);
  }

  get size(): number {
    return this.load().size;
  }

  *list(): Iterable<MemoEntry<unknown> & { key: Hash }> {
    for (const line of this.load().values()) yield { key: line.k, value: line.v, blobs: line.b ?? [] };
  }

  /** Rewrites the namespace as one segment holding only the entries `keep` accepts (used by verify and gc). */
  rewrite(keep: (blobs: Hash[]) => boolean): number {
    const entries = this.load();
    let dropped = 0;
    for (const [key, line] of entries) {
      if (!keep(line.b ?? [])) {
        entries.delete(key);
        dropped++;
      }
    }
    this.close();
    const old = fs.existsSync(this.dir) ? fs.readdirSync(this.dir).filter((f) => f.endsWith('.jsonl')) : [];
    if (entries.size > 0) {
      fs.mkdirSync(this.dir, { recursive: true });
      const body = [...entries.values()].map(sealLine).join('\n') + '\n';
      const target = path.join(this.dir, `${Date.now()}-${process.pid}-compact.jsonl`);
      fs.writeFileSync(`${target}.partial`, body);
      fs.renameSync(`${target}.partial`, target);
      for (const f of old) if (path.join(this.dir, f) !== target) fs.rmSync(path.join(this.dir, f), { force: true });
    } else {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
    return dropped;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private load(): Map<Hash, MemoLine> {
    if (this.entries) return this.entries;
    this.entries = new Map();
    if (!fs.existsSync(this.dir)) return this.entries;
    for (const file of fs
      .readdirSync(this.dir)
      .filter((f) => f.endsWith('.jsonl'))
      .sort()) {
      for (const text of fs.readFileSync(path.join(this.dir, file), 'utf8').split('\n')) {
        if (!text) continue;
        const line = openLine(text);
        if (line === 'bad-checksum') this.rejected++;
        // A torn last line from a killed run: that one item is simply computed again.
        else if (line) this.entries.set(line.k, line);
      }
    }
    return this.entries;
  }
}

const CHECKSUM_TAIL = /,"c":"([0-9a-f]{16})"}$/;

/** 64 bits of sha256 over the line's own JSON: enough to notice an edit or damage, small beside the line. */
const lineChecksum = (body: string) => sha256(body).slice(0, 16);

function sealLine(line: MemoLine): string {
  const body = JSON.stringify({ k: line.k, v: line.v, b: line.b });
  return `${body.slice(0, -1)},"c":"${lineChecksum(body)}"}`;
}

function openLine(text: string): MemoLine | 'bad-checksum' | undefined {
  const tail = CHECKSUM_TAIL.exec(text);
  if (tail && lineChecksum(`${text.slice(0, tail.index)}}`) !== tail[1]) return 'bad-checksum';
  try {
    const line = JSON.parse(text) as MemoLine & { c?: string };
    if (typeof line !== 'object' || line === null || typeof line.k !== 'string') return undefined;
    delete line.c;
    return line;
  } catch {
    return undefined;
  }
}
