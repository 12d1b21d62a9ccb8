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
// The paper's rule for the number of chunks is m ≈ 64 / log2(n): buckets then hold about one item each
// (chunksFor). 4 chunks of 16 bits suits n ≈ 2^16; at 40,000 face images × 27 window hashes (2^20 codes) the
// buckets of 16-bit chunks held 55–190 codes each (face hashes are far from uniform), and 3 chunks of 21–22 bits
// made the quality search's lookups 1.7× faster.
//
// `widening` is the paper's k-nearest-neighbour variant: the radius grows one bit at a time and each step probes
// only the buckets the step adds, keeping what it scanned beyond the radius for the later steps, so a caller that
// stops at the first radius holding enough items pays for that radius alone.
import { popcount32 } from './perceptual-hash.js';

export interface HashIndexOptions {
  /** Number of chunks the 64 bits are cut into (3 to 8; chunk widths differ by at most one bit). Default 4. */
  chunks?: number;
}

/** An item found by a widening search: its index, its distance to the code, and which of the codes it is near. */
export interface WideningHit {
  index: number;
  distance: number;
  code: number;
}

/** A search around fixed codes whose radius only grows; `to(r)` returns the hits that radius r adds. */
export interface Widening {
  to(radius: number): WideningHit[];
}

/** The paper's number of chunks for `codes` stored codes: 64 / log2(codes) rounded, at least 3 and at most 8. */
export function chunksFor(codes: number): number {
  return Math.max(3, Math.min(8, Math.round(64 / Math.log2(Math.max(2, codes)))));
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
  /** The members' codes in the same order, so scanning a bucket reads memory in sequence. */
  memberHigh: Uint32Array;
  memberLow: Uint32Array;
}

/** The value of `bits` bits starting at bit `shift` of the 64-bit code (high, low halves). */
function chunkValue(high: number, low: number, shift: number, bits: number): number {
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (shift >= 32) return (high >>> (shift - 32)) & mask;
  if (shift + bits <= 32) return (low >>> shift) & mask;
  const lowBits = 32 - shift;
  return ((low >>> shift) | (high << lowBits)) & mask;
}

/** C(n, k), exact for the chunk widths here (n ≤ 22). */
function binomial(n: number, k: number): number {
  let c = 1;
  for (let j = 1; j <= k; j++) c = (c * (n - j + 1)) / j;
  return c;
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
  private readonly masks = new Map<string, Int32Array>();
  /** Per code of the current widening: the stamp that marks an item found for it (one widening at a time). */
  private marks: Uint32Array[] = [];
  private stamp = 0;

  constructor(options: HashIndexOptions = {}) {
    const chunks = options.chunks ?? 4;
    if (!Number.isInteger(chunks) || chunks < 3 || chunks > 8) {
      throw new Error(`HashIndex: chunks must be an integer from 3 to 8 (${chunks})`);
    }
    this.tables = [];
    let shift = 0;
    for (let k = 0; k < chunks; k++) {
      const bits = Math.floor(64 / chunks) + (k < 64 % chunks ? 1 : 0);
      const empty = { offsets: new Int32Array(0), members: new Int32Array(0) };
      this.tables.push({ shift, bits, ...empty, memberHigh: new Uint32Array(0), memberLow: new Uint32Array(0) });
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
    this.checkRadius(radius);
    return this.widening([code], radius)
      .to(radius)
      .map(({ index, distance }) => ({ index, distance }))
      .sort((a, b) => a.index - b.index);
  }

  /** Every pair of items (i < j) within `radius` bits, sorted by i then j: each item is queried once. */
  pairsWithin(radius: number): HashPair[] {
    this.checkRadius(radius);
    const pairs: HashPair[] = [];
    for (let i = 0; i < this.count; i++) {
      const row = this.widening([this.code(i)], radius)
        .to(radius)
        .filter((hit) => hit.index > i)
        .sort((a, b) => a.index - b.index);
      for (const { index: j, distance } of row) pairs.push({ i, j, distance });
    }
    return pairs;
  }

  private checkRadius(radius: number): void {
    if (!Number.isInteger(radius) || radius < 0 || radius > 64) {
      throw new Error(`HashIndex: radius must be an integer from 0 to 64 (${radius})`);
    }
  }

  /**
   * A search around `codes` whose radius grows up to `limit`: `to(r)` (r not below the last) returns every item
   * newly within r of each code — an item near two codes is a hit for each — having probed only the buckets r
   * adds. Starting another widening ends this one (they share the marks of what was scanned).
   */
  widening(codes: readonly bigint[], limit = 64): Widening {
    this.build();
    const m = this.tables.length;
    const highs = codes.map((code) => Number(BigInt.asUintN(64, code) >> 32n));
    const lows = codes.map((code) => Number(BigInt.asUintN(64, code) & 0xffffffffn));
    while (this.marks.length < codes.length) this.marks.push(new Uint32Array(this.count));
    const seen = this.marks;
    if (this.stamp === 0xffffffff) {
      for (const marks of seen) marks.fill(0);
      this.stamp = 0;
    }
    const stamp = ++this.stamp;
    // Per code: how many bits each chunk's probes flip so far (-1: none yet) and the cost of each chunk's next ring.
    // Exactness needs only Σ(flipped + 1) > radius over the chunks (pigeonhole), so each step may widen whichever
    // chunk is cheapest around this code: face hashes fill some chunk values far more than others.
    const flipped = codes.map(() => new Int32Array(m).fill(-1));
    const nextCost = codes.map(() => new Float64Array(m).fill(NaN));
    const values = codes.map((_, c) => this.tables.map((t) => chunkValue(highs[c]!, lows[c]!, t.shift, t.bits)));
    const covered = codes.map(() => -1); // the radius searched exactly so far
    // Scanned, by distance, not yet returned; most of what a probe scans is beyond the limit and is not kept.
    const later: WideningHit[][] = Array.from({ length: limit + 1 }, () => []);
    let radius = -1;
    return {
      to: (next: number): WideningHit[] => {
        if (!Number.isInteger(next) || next < radius || next > limit) {
          throw new Error(`HashIndex: a widening's radius must grow, integer up to ${limit} (${radius} → ${next})`);
        }
        if (this.stamp !== stamp) throw new Error('HashIndex: a later widening ended this one');
        const hits: WideningHit[] = [];
        for (let d = radius + 1; d <= next; d++) for (const hit of later[d]!) hits.push(hit);
        for (let c = 0; c < codes.length; c++) {
          const cost = nextCost[c]!;
          for (; covered[c]! < next; covered[c]!++) {
            let k = 0;
            for (let j = 0; j < m; j++) {
              if (Number.isNaN(cost[j]!)) cost[j] = this.ringCost(this.tables[j]!, values[c]![j]!, flipped[c]![j]! + 1);
              if (cost[j]! < cost[k]!) k = j;
            }
            const table = this.tables[k]!;
            const ring = this.ringOf(table.bits, ++flipped[c]![k]!);
            this.scan(table, ring, values[c]![k]!, highs[c]!, lows[c]!, seen[c]!, stamp, limit, (index, distance) =>
              (distance <= next ? hits : later[distance]!).push({ index, distance, code: c }),
            );
            cost[k] = NaN;
          }
        }
        radius = next;
        return hits;
      },
    };
  }

  /**
   * Calls `found` once for each item within `limit` bits of the code (high, low) in the buckets value ^ masks,
   * marking it with `stamp` so that no later scan with the same marks reports it again.
   */
  private scan(
    { offsets, members, memberHigh, memberLow }: ChunkTable,
    masks: Int32Array,
    value: number,
    high: number,
    low: number,
    marks: Uint32Array,
    stamp: number,
    limit: number,
    found: (index: number, distance: number) => void,
  ): void {
    for (let p = 0; p < masks.length; p++) {
      const probe = value ^ masks[p]!;
      for (let s = offsets[probe]!, end = offsets[probe + 1]!; s < end; s++) {
        // Most of a bucket is beyond the limit: measured on its inline code, it is passed over without touching
        // the item's marks (it may be scanned again from another chunk, and passed over again).
        const distance = popcount32(memberHigh[s]! ^ high) + popcount32(memberLow[s]! ^ low);
        if (distance > limit) continue;
        const index = members[s]!;
        if (marks[index] === stamp) continue;
        marks[index] = stamp;
        found(index, distance);
      }
    }
  }

  /** The masks of `bits` bits with exactly `ones` ones (none when ones > bits). */
  private ringOf(bits: number, ones: number): Int32Array {
    if (ones > bits) return new Int32Array(0);
    const within = this.masksFor(bits, ones);
    return within.subarray(within.length - binomial(bits, ones)); // masks come fewest ones first
  }

  /**
   * What probing the ring around `value` would cost, estimated without probing it: its buckets, each holding
   * about as many items as the bucket at `value` (counting them exactly costs as much as probing).
   */
  private ringCost({ bits, offsets }: ChunkTable, value: number, ones: number): number {
    if (ones > bits) return 0;
    return binomial(bits, ones) * (1 + offsets[value + 1]! - offsets[value]!);
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

  /** (Re)builds every chunk table by counting sort, when items were added since the last build. */
  private build(): void {
    if (this.built === this.count) return;
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
      table.memberHigh = Uint32Array.from(members, (i) => this.high[i]!);
      table.memberLow = Uint32Array.from(members, (i) => this.low[i]!);
      table.offsets = offsets;
      table.members = members;
    }
    this.marks = []; // sized to the items; remade by the next widening
    this.stamp = 0;
    this.built = n;
  }
}
