// Multi-index hashing: exact Hamming-radius search over 64-bit codes without comparing all pairs.
//
// Method: Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with Multi-Index Hashing" (CVPR 2012; PAMI
// 2014). The code is cut into m disjoint chunks and each chunk gets its own table from chunk value to items. If two
// codes differ in at most r = r'·m + a bits (0 ≤ a < m), then by pigeonhole one of the first a + 1 chunks differs
// in at most r' bits, or one of the other chunks in at most r' − 1 (otherwise the total would be at least
// (a + 1)(r' + 1) + (m − a − 1)·r' = r + 1). So a query looks up, in each chunk table, every value within that
// small radius of its own chunk, and verifies the full distance of what it finds. The result is exactly what a
// linear scan finds, in time that grows with the number of candidates, not with n.
//
// Each chunk table is compressed-row storage (offsets over all 2^bits chunk values, then item indexes), built
// by a counting sort when first queried after adds: two Int32Arrays per chunk, no per-bucket arrays.
// With 64-bit codes, m = 4 chunks of 16 bits is the paper's choice for n ≈ 2^16. Measured on 40,000 generated
// clustered face hashes at radius 10 and 12: 4 and 5 chunks within noise of each other (1.0–1.5 s for all
// pairs), 6 slightly and 8 clearly slower; 4 is the default. (bench/quality.ts times the whole search.)
import { popcount32 } from './perceptual-hash.js';

export interface HashIndexOptions {
  /** Number of chunks the 64 bits are cut into (4 to 8; chunk widths differ by at most one bit). Default 4. */
  chunks?: number;
}

/** A pair of item indexes (i < j, in insertion order) and the Hamming distance between their codes. */
export interface HashPair {
  i: number;
  j: number;
  distance: number;
}

/** One chunk: which bits of the code it holds, and its table from chunk value to the items with that value. */
interface ChunkTable {
  readonly shift: number; // first bit, counted from the least significant bit of the 64
  readonly bits: number;
  offsets: Int32Array; // 2^bits + 1 entries: items with chunk value c are members[offsets[c] .. offsets[c + 1])
  members: Int32Array;
}

/** The value of `bits` bits starting at bit `shift` of the 64-bit code (high, low halves). */
function chunkValue(high: number, low: number, shift: number, bits: number): number {
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (shift >= 32) return (high >>> (shift - 32)) & mask;
  if (shift + bits <= 32) return (low >>> shift) & mask;
  const lowBits = 32 - shift;
  return ((low >>> shift) | (high << lowBits)) & mask;
}

/** All masks of `bits` bits with at most `radius` ones, fewest ones first (so exact matches are probed first). */
function masksWithin(bits: number, radius: number): Int32Array {
  const masks: number[] = [0];
  let frontier: number[] = [0];
  for (let ones = 1; ones <= Math.min(radius, bits); ones++) {
    // Grow each mask by one bit above its highest bit: every mask with `ones` bits is made exactly once.
    const next: number[] = [];
    for (const mask of frontier) {
      const highest = mask === 0 ? -1 : 31 - Math.clz32(mask);
      for (let bit = highest + 1; bit < bits; bit++) next.push(mask | (1 << bit));
    }
    masks.push(...next);
    frontier = next;
  }
  return Int32Array.from(masks);
}

export class HashIndex {
  private readonly tables: ChunkTable[];
  private high = new Uint32Array(1024);
  private low = new Uint32Array(1024);
  private count = 0;
  private built = 0; // items in the tables; the tables are rebuilt when count has moved past it
  private seen = new Uint32Array(0); // per item: the query that last saw it, to dedupe candidates
  private stamp = 0;
  private readonly masks = new Map<string, Int32Array>();

  constructor(options: HashIndexOptions = {}) {
    const chunks = options.chunks ?? 4;
    if (!Number.isInteger(chunks) || chunks < 4 || chunks > 8) {
      throw new Error(`HashIndex: chunks must be an integer from 4 to 8 (${chunks})`);
    }
    this.tables = [];
    let shift = 0;
    for (let k = 0; k < chunks; k++) {
      const bits = Math.floor(64 / chunks) + (k < 64 % chunks ? 1 : 0);
      this.tables.push({ shift, bits, offsets: new Int32Array(0), members: new Int32Array(0) });
      shift += bits;
    }
  }

  get size(): number {
    return this.count;
  }

  get chunkCount(): number {
    return this.tables.length;
  }

  /** Adds a 64-bit code; returns its index (0, 1, 2, … in the order of adds). */
  add(code: bigint): number {
    if (this.count === this.high.length) {
      const high = new Uint32Array(this.count * 2);
      const low = new Uint32Array(this.count * 2);
      high.set(this.high);
      low.set(this.low);
      this.high = high;
      this.low = low;
    }
    const unsigned = BigInt.asUintN(64, code);
    this.high[this.count] = Number(unsigned >> 32n);
    this.low[this.count] = Number(unsigned & 0xffffffffn);
    return this.count++;
  }

  /** The code added as item `index`. */
  code(index: number): bigint {
    if (index < 0 || index >= this.count) throw new RangeError(`HashIndex: no item ${index}`);
    return (BigInt(this.high[index]!) << 32n) | BigInt(this.low[index]!);
  }

  /** Every item whose code is within `radius` bits of `code`, by index ascending, with its distance. */
  query(code: bigint, radius: number): { index: number; distance: number }[] {
    const unsigned = BigInt.asUintN(64, code);
    const found: { index: number; distance: number }[] = [];
    this.search(Number(unsigned >> 32n), Number(unsigned & 0xffffffffn), radius, -1, (index, distance) =>
      found.push({ index, distance }),
    );
    return found.sort((a, b) => a.index - b.index);
  }

  /** Every pair of items (i < j) within `radius` bits, sorted by i then j: each item is queried once. */
  pairsWithin(radius: number): HashPair[] {
    const pairs: HashPair[] = [];
    const row: HashPair[] = [];
    for (let i = 0; i < this.count; i++) {
      row.length = 0;
      this.search(this.high[i]!, this.low[i]!, radius, i, (j, distance) => row.push({ i, j, distance }));
      row.sort((a, b) => a.j - b.j);
      for (const pair of row) pairs.push(pair);
    }
    return pairs;
  }

  /** Calls `found` once for each item with index > `after` within `radius` of the code (high, low). */
  private search(
    high: number,
    low: number,
    radius: number,
    after: number,
    found: (index: number, distance: number) => void,
  ): void {
    if (!Number.isInteger(radius) || radius < 0 || radius > 64) {
      throw new Error(`HashIndex: radius must be an integer from 0 to 64 (${radius})`);
    }
    this.build();
    const m = this.tables.length;
    const perChunk = Math.floor(radius / m);
    const widerChunks = (radius % m) + 1; // the first a + 1 chunks are searched at r', the rest at r' − 1
    const stamp = this.nextStamp();
    const seen = this.seen;
    for (let k = 0; k < m; k++) {
      const chunkRadius = k < widerChunks ? perChunk : perChunk - 1;
      if (chunkRadius < 0) continue;
      const table = this.tables[k]!;
      const value = chunkValue(high, low, table.shift, table.bits);
      const masks = this.masksFor(table.bits, chunkRadius);
      const { offsets, members } = table;
      for (let p = 0; p < masks.length; p++) {
        const probe = value ^ masks[p]!;
        for (let s = offsets[probe]!, end = offsets[probe + 1]!; s < end; s++) {
          const index = members[s]!;
          if (index <= after || seen[index] === stamp) continue;
          seen[index] = stamp;
          const distance = popcount32(this.high[index]! ^ high) + popcount32(this.low[index]! ^ low);
          if (distance <= radius) found(index, distance);
        }
      }
    }
  }

  private masksFor(bits: number, radius: number): Int32Array {
    const key = `${bits}:${radius}`;
    let masks = this.masks.get(key);
    if (!masks) {
      masks = masksWithin(bits, radius);
      this.masks.set(key, masks);
    }
    return masks;
  }

  private nextStamp(): number {
    if (this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 0;
    }
    return ++this.stamp;
  }

  /** (Re)builds every chunk table by counting sort, when items were added since the last build. */
  private build(): void {
    if (this.built === this.count && this.seen.length === this.count) return;
    const n = this.count;
    for (const table of this.tables) {
      const values = 1 << table.bits;
      const offsets = new Int32Array(values + 1);
      const chunk = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        chunk[i] = chunkValue(this.high[i]!, this.low[i]!, table.shift, table.bits);
        offsets[chunk[i]! + 1]!++;
      }
      for (let c = 0; c < values; c++) offsets[c + 1]! += offsets[c]!;
      const fill = offsets.slice(0, values);
      const members = new Int32Array(n);
      // Items go in ascending index order within each bucket, so the probe order is fixed by the adds alone.
      for (let i = 0; i < n; i++) members[fill[chunk[i]!]!++] = i;
      table.offsets = offsets;
      table.members = members;
    }
    const seen = new Uint32Array(n);
    this.seen = seen;
    this.stamp = 0;
    this.built = n;
  }
}
