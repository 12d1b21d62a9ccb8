// Approximate nearest neighbours by cosine for face embeddings: a small HNSW graph in plain JavaScript.
//
// Method: Malkov and Yashunin, "Efficient and robust approximate nearest neighbor search using Hierarchical
// Navigable Small World graphs" (IEEE TPAMI 2018): each item gets a random top layer (geometric, 1/ln M), is linked
// on each layer up to it to the best of `efConstruction` candidates found by a greedy beam search, chosen with the
// paper's neighbour heuristic (algorithm 4: keep a candidate only if it is nearer to the new item than to every
// neighbour kept so far), which keeps links between the tight clusters that look-alike faces form.
//
// Why our own and not a package (measured 2026-09): usearch 2.26 loads its prebuilt linux-x64 binary without an
// install script and is fast, but declares Node ≥ 22, draws its levels from std::default_random_engine (whose
// sequence differs between libstdc++, libc++ and MSVC builds, so the graph differs between platforms) and picks
// SIMD distance kernels by CPU (float rounding differs between machines); hnswlib-node has no prebuilt binary and
// needs node-gyp at install; hnswlib-wasm's package entry does not resolve under Node ESM. This file is pure
// float64 arithmetic over Float32Array data with levels from a hash of (seed, id): for one insertion order and
// seed, the graph and every answer are the same on every machine. The graph does depend on insertion order, so
// a caller that needs order-free output inserts in a canonical order (by image hash, say).
//
// Vectors are L2-normalised on add, so cosine is a dot product.
import { Heap } from './heap.js';

export interface VectorIndexOptions {
  /** Links per node on the upper layers (layer 0 keeps twice as many). Default 16. */
  connections?: number;
  /** Beam width while inserting. Default 100. */
  efConstruction?: number;
  /** Beam width while searching (raised to k when k is larger). Default 64. */
  efSearch?: number;
  /** Seed of the layer draw. Default 0. */
  seed?: number;
}

export interface Neighbour {
  id: number;
  cosine: number;
}

/** A pair of ids (i < j) and their cosine similarity. */
export interface VectorPair {
  i: number;
  j: number;
  cosine: number;
}

/** A 32-bit mix of (seed, id) (murmur3's finaliser), so an item's layer does not depend on when it was added. */
function mix(seed: number, id: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(id, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class VectorIndex {
  private readonly connections: number;
  private readonly baseConnections: number;
  private readonly efConstruction: number;
  private readonly efSearch: number;
  private readonly seed: number;
  private readonly levelScale: number;
  private vectors: Float32Array;
  private ids: number[] = [];
  private readonly nodeOfId = new Map<number, number>();
  private levels: number[] = [];
  /** Layer 0 links: node n's links are base[n·baseConnections ..], baseCount[n] of them. */
  private base: Int32Array;
  /** The cosine of each layer-0 link, beside it in `base`, so a full node drops its weakest link without dots. */
  private baseSimilarity: Float64Array;
  private baseCount: Int32Array;
  /** Links on layers ≥ 1, by layer then node (few nodes live there). */
  private readonly upper: Map<number, number[]>[] = [];
  private entry = -1;
  private visited = new Uint32Array(0);
  private visitStamp = 0;
  private readonly candidates = new Heap(true);
  private readonly results = new Heap(false);

  constructor(
    readonly dim: number,
    options: VectorIndexOptions = {},
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`VectorIndex: dim must be a positive integer (${dim})`);
    this.connections = options.connections ?? 16;
    this.baseConnections = 2 * this.connections;
    this.efConstruction = options.efConstruction ?? 100;
    this.efSearch = options.efSearch ?? 64;
    this.seed = options.seed ?? 0;
    this.levelScale = 1 / Math.log(this.connections);
    this.vectors = new Float32Array(1024 * dim);
    this.base = new Int32Array(1024 * this.baseConnections);
    this.baseSimilarity = new Float64Array(1024 * this.baseConnections);
    this.baseCount = new Int32Array(1024);
  }

  get size(): number {
    return this.ids.length;
  }

  /** Adds a vector under a caller's integer id (unique); the index keeps an L2-normalised copy. */
  add(id: number, vector: ArrayLike<number>): void {
    if (vector.length !== this.dim) throw new Error(`VectorIndex: ${vector.length} values, expected ${this.dim}`);
    if (this.nodeOfId.has(id)) throw new Error(`VectorIndex: id ${id} added twice`);
    const node = this.ids.length;
    this.grow(node + 1);
    this.writeNormalised(node, vector);
    this.ids.push(id);
    this.nodeOfId.set(id, node);
    const level = Math.floor(-Math.log((mix(this.seed, id) + 1) / 4294967297) * this.levelScale);
    this.levels.push(level);
    for (let l = this.upper.length; l <= level; l++) this.upper.push(new Map());
    for (let l = 1; l <= level; l++) this.upper[l]!.set(node, []);
    if (this.entry < 0) {
      this.entry = node;
      return;
    }
    const query = this.vectors.subarray(node * this.dim, (node + 1) * this.dim);
    let nearest = this.entry;
    const top = this.levels[this.entry]!;
    for (let l = top; l > level; l--) nearest = this.greedy(query, nearest, l);
    for (let l = Math.min(level, top); l >= 0; l--) {
      const found = this.beam(query, nearest, this.efConstruction, l, node);
      const chosen = this.select(found, l === 0 ? this.baseConnections : this.connections);
      this.setLinks(node, l, chosen);
      for (const { node: other, similarity } of chosen) this.link(other, node, similarity, l);
      nearest = found[0]!.node;
    }
    if (level > top) this.entry = node;
  }

  /** Up to k stored items with cosine ≥ minCosine to `vector`, most similar first (ties: lower id first). */
  neighbours(vector: ArrayLike<number>, k: number, minCosine = -1): Neighbour[] {
    if (vector.length !== this.dim) throw new Error(`VectorIndex: ${vector.length} values, expected ${this.dim}`);
    const query = new Float32Array(this.dim);
    let norm = 0;
    for (let d = 0; d < this.dim; d++) norm += vector[d]! * vector[d]!;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let d = 0; d < this.dim; d++) query[d] = vector[d]! * scale;
    return this.search(query, k, minCosine, -1);
  }

  /** Every pair (i < j by id) with cosine ≥ minCosine where j is among i's k nearest or i among j's; by i, j. */
  pairsAbove(minCosine: number, k: number): VectorPair[] {
    const pairs: VectorPair[] = [];
    for (let node = 0; node < this.ids.length; node++) {
      const query = this.vectors.subarray(node * this.dim, (node + 1) * this.dim);
      const me = this.ids[node]!;
      for (const { id, cosine } of this.search(query, k, minCosine, node)) {
        pairs.push({ i: Math.min(me, id), j: Math.max(me, id), cosine });
      }
    }
    // A pair found from both sides appears twice with the same cosine (the same products summed in the same order).
    pairs.sort((a, b) => a.i - b.i || a.j - b.j);
    return pairs.filter((pair, at) => at === 0 || pair.i !== pairs[at - 1]!.i || pair.j !== pairs[at - 1]!.j);
  }

  private search(query: Float32Array, k: number, minCosine: number, exclude: number): Neighbour[] {
    if (this.entry < 0 || k < 1) return [];
    let nearest = this.entry;
    for (let l = this.levels[this.entry]!; l > 0; l--) nearest = this.greedy(query, nearest, l);
    const found = this.beam(query, nearest, Math.max(this.efSearch, k + 1), 0, exclude);
    const out: Neighbour[] = [];
    for (const { node, similarity } of found) {
      if (out.length === k || similarity < minCosine) break;
      out.push({ id: this.ids[node]!, cosine: similarity });
    }
    return out;
  }

  private dot(query: Float32Array, node: number): number {
    const v = this.vectors;
    const dim = this.dim;
    let at = node * dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let d = 0;
    for (; d + 3 < dim; d += 4, at += 4) {
      s0 += query[d]! * v[at]!;
      s1 += query[d + 1]! * v[at + 1]!;
      s2 += query[d + 2]! * v[at + 2]!;
      s3 += query[d + 3]! * v[at + 3]!;
    }
    for (; d < dim; d++, at++) s0 += query[d]! * v[at]!;
    return s0 + s1 + s2 + s3;
  }

  /** Greedy walk on one upper layer: move to the most similar link until none is better. */
  private greedy(query: Float32Array, start: number, level: number): number {
    let current = start;
    let best = this.dot(query, current);
    for (let moved = true; moved;) {
      moved = false;
      for (const next of this.upper[level]!.get(current)!) {
        const similarity = this.dot(query, next);
        if (similarity > best || (similarity === best && next < current)) {
          best = similarity;
          current = next;
          moved = true;
        }
      }
    }
    return current;
  }

  private linksOf(node: number, level: number): ArrayLike<number> {
    if (level > 0) return this.upper[level]!.get(node)!;
    const from = node * this.baseConnections;
    return this.base.subarray(from, from + this.baseCount[node]!);
  }

  /** Beam search on one layer (the paper's algorithm 2): the ef most similar nodes, most similar first. */
  private beam(
    query: Float32Array,
    start: number,
    ef: number,
    level: number,
    exclude: number,
  ): { node: number; similarity: number }[] {
    const stamp = this.nextVisit();
    const visited = this.visited;
    const candidates = this.candidates; // most similar first
    const results = this.results; // least similar first: the one to drop
    candidates.clear();
    results.clear();
    visited[start] = stamp;
    const first = this.dot(query, start);
    candidates.push(first, start);
    if (start !== exclude) results.push(first, start);
    while (candidates.size > 0) {
      const similarity = candidates.topScore();
      const node = candidates.topNode();
      if (results.size >= ef && similarity < results.topScore()) break;
      candidates.pop();
      const links = this.linksOf(node, level);
      for (let i = 0; i < links.length; i++) {
        const next = links[i]!;
        if (visited[next] === stamp) continue;
        visited[next] = stamp;
        const s = this.dot(query, next);
        if (results.size < ef || s > results.topScore()) {
          candidates.push(s, next);
          if (next === exclude) continue;
          results.push(s, next);
          if (results.size > ef) results.pop();
        }
      }
    }
    const found: { node: number; similarity: number }[] = new Array(results.size);
    for (let i = results.size - 1; i >= 0; i--) {
      found[i] = { node: results.topNode(), similarity: results.topScore() };
      results.pop();
    }
    return found;
  }

  /** The paper's heuristic (algorithm 4) over candidates sorted most similar first; fills up with the rest. */
  private select(found: { node: number; similarity: number }[], limit: number): { node: number; similarity: number }[] {
    const kept: { node: number; similarity: number }[] = [];
    const skipped: { node: number; similarity: number }[] = [];
    for (const candidate of found) {
      if (kept.length >= limit) break;
      const row = this.vectors.subarray(candidate.node * this.dim, (candidate.node + 1) * this.dim);
      let diverse = true;
      for (const other of kept) {
        if (this.dot(row, other.node) > candidate.similarity) {
          diverse = false;
          break;
        }
      }
      (diverse ? kept : skipped).push(candidate);
    }
    for (let i = 0; kept.length < limit && i < skipped.length; i++) kept.push(skipped[i]!);
    return kept;
  }

  private setLinks(node: number, level: number, links: { node: number; similarity: number }[]): void {
    if (level > 0) {
      this.upper[level]!.set(
        node,
        links.map((link) => link.node),
      );
      return;
    }
    const at = node * this.baseConnections;
    links.forEach((link, k) => {
      this.base[at + k] = link.node;
      this.baseSimilarity[at + k] = link.similarity;
    });
    this.baseCount[node] = links.length;
  }

  /**
   * Adds the back link other → node. On layer 0 a full node applies the paper's heuristic incrementally, with one
   * dot product per existing link instead of hnswlib's O(links²) re-selection (90 % of the build time here): node
   * is left out when a link at least as similar to `other` is nearer to node than `other` is (node is reachable
   * through it); otherwise it replaces the weakest link that it makes redundant in the same sense, or else the
   * weakest link if node is more similar. Keeping the far, diverse links is what lets a search cross from one
   * cluster of look-alike faces to another; dropping simply the weakest lost half the planted pairs.
   */
  private link(other: number, node: number, similarity: number, level: number): void {
    if (level === 0) {
      const at = other * this.baseConnections;
      const count = this.baseCount[other]!;
      if (count < this.baseConnections) {
        this.base[at + count] = node;
        this.baseSimilarity[at + count] = similarity;
        this.baseCount[other] = count + 1;
        return;
      }
      const row = this.vectors.subarray(node * this.dim, (node + 1) * this.dim);
      let victim = -1;
      let weakest = 0;
      for (let k = 0; k < count; k++) {
        const linkSimilarity = this.baseSimilarity[at + k]!;
        const toNode = this.dot(row, this.base[at + k]!);
        if (linkSimilarity >= similarity && toNode > similarity) return; // node is covered by this link
        if (linkSimilarity < similarity && toNode > linkSimilarity) {
          if (victim < 0 || linkSimilarity < this.baseSimilarity[at + victim]!) victim = k;
        }
        if (linkSimilarity < this.baseSimilarity[at + weakest]!) weakest = k;
      }
      if (victim < 0 && this.baseSimilarity[at + weakest]! < similarity) victim = weakest;
      if (victim >= 0) {
        this.base[at + victim] = node;
        this.baseSimilarity[at + victim] = similarity;
      }
      return;
    }
    const current = this.upper[level]!.get(other)!;
    if (current.length < this.connections) {
      current.push(node);
      return;
    }
    const row = this.vectors.subarray(other * this.dim, (other + 1) * this.dim);
    const scored = [...current, node].map((n) => ({ node: n, similarity: this.dot(row, n) }));
    scored.sort((a, b) => b.similarity - a.similarity || a.node - b.node);
    this.setLinks(other, level, this.select(scored, this.connections));
  }

  private nextVisit(): number {
    if (this.visitStamp === 0xffffffff) {
      this.visited.fill(0);
      this.visitStamp = 0;
    }
    return ++this.visitStamp;
  }

  private grow(nodes: number): void {
    if (this.visited.length < nodes) {
      const visited = new Uint32Array(Math.max(1024, this.visited.length * 2));
      visited.set(this.visited);
      this.visited = visited;
    }
    if (this.baseCount.length >= nodes) return;
    const capacity = this.baseCount.length * 2;
    const vectors = new Float32Array(capacity * this.dim);
    vectors.set(this.vectors);
    this.vectors = vectors;
    const base = new Int32Array(capacity * this.baseConnections);
    base.set(this.base);
    this.base = base;
    const baseSimilarity = new Float64Array(capacity * this.baseConnections);
    baseSimilarity.set(this.baseSimilarity);
    this.baseSimilarity = baseSimilarity;
    const baseCount = new Int32Array(capacity);
    baseCount.set(this.baseCount);
    this.baseCount = baseCount;
  }

  private writeNormalised(node: number, vector: ArrayLike<number>): void {
    let norm = 0;
    for (let d = 0; d < this.dim; d++) norm += vector[d]! * vector[d]!;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    const at = node * this.dim;
    for (let d = 0; d < this.dim; d++) this.vectors[at + d] = vector[d]! * scale;
  }
}
