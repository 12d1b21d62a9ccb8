// Near-duplicate clusters from pairs: union-find (disjoint sets) with path halving and union by size (Tarjan,
// "Efficiency of a Good But Not Linear Set Union Algorithm", JACM 1975), so a chain a–b, b–c puts a, b and c in
// one cluster. Output order depends only on the set of pairs, never on the order they arrive in.

/** Disjoint sets over the items 0 … count − 1. */
export class UnionFind {
  private readonly parent: Int32Array;
  private readonly size: Int32Array;

  constructor(readonly count: number) {
    this.parent = new Int32Array(count);
    this.size = new Int32Array(count).fill(1);
    for (let i = 0; i < count; i++) this.parent[i] = i;
  }

  find(item: number): number {
    let at = item;
    while (this.parent[at] !== at) {
      this.parent[at] = this.parent[this.parent[at]!]!; // path halving
      at = this.parent[at]!;
    }
    return at;
  }

  /** Joins the sets of a and b; returns false when they were already one. */
  union(a: number, b: number): boolean {
    let rootA = this.find(a);
    let rootB = this.find(b);
    if (rootA === rootB) return false;
    if (this.size[rootA]! < this.size[rootB]!) [rootA, rootB] = [rootB, rootA];
    this.parent[rootB] = rootA;
    this.size[rootA]! += this.size[rootB]!;
    return true;
  }
}

/** Something that names two items: a hash pair, a vector pair, or a plain [i, j]. */
export type ItemPair = { i: number; j: number } | readonly [number, number];

function ends(pair: ItemPair): [number, number] {
  const a = 'i' in pair ? pair.i : pair[0];
  const b = 'i' in pair ? pair.j : pair[1];
  return a < b ? [a, b] : [b, a];
}

function checkItem(item: number, count: number): void {
  if (!Number.isInteger(item) || item < 0 || item >= count) {
    throw new RangeError(`near-duplicate clusters: item ${item} is not in 0 … ${count - 1}`);
  }
}

/**
 * The clusters of two or more items that the pairs join (items no pair names are left out): each cluster's
 * members sorted ascending, the clusters sorted by their first member.
 */
export function clustersFromPairs(count: number, pairs: Iterable<ItemPair>): number[][] {
  const sets = new UnionFind(count);
  for (const pair of pairs) {
    const [i, j] = ends(pair);
    checkItem(i, count);
    checkItem(j, count);
    sets.union(i, j);
  }
  return clustersOf(sets);
}

function clustersOf(sets: UnionFind): number[][] {
  const byRoot = new Map<number, number[]>();
  for (let item = 0; item < sets.count; item++) {
    const root = sets.find(item);
    let members = byRoot.get(root);
    if (!members) {
      members = [];
      byRoot.set(root, members);
    }
    members.push(item); // ascending, as items are visited in order
  }
  return [...byRoot.values()].filter((members) => members.length > 1).sort((a, b) => a[0]! - b[0]!);
}

export interface VerifiedDuplicates {
  /** The candidate pairs `verify` accepted, as [i, j] with i < j, sorted by i then j, each once. */
  pairs: [number, number][];
  /** How many distinct candidate pairs were checked. */
  checked: number;
  clusters: number[][];
}

/**
 * Merges candidate pairs from any number of sources (the hash index, the vector index), checks each distinct pair
 * once with `verify(i, j)` (i < j, called in ascending order, so a stateful or logging check sees a fixed order),
 * and clusters the accepted ones.
 */
export function verifiedDuplicates(
  count: number,
  candidateLists: Iterable<Iterable<ItemPair>>,
  verify: (i: number, j: number) => boolean,
): VerifiedDuplicates {
  const candidates: [number, number][] = [];
  for (const list of candidateLists) {
    for (const pair of list) {
      const [i, j] = ends(pair);
      checkItem(i, count);
      checkItem(j, count);
      if (i !== j) candidates.push([i, j]);
    }
  }
  candidates.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const sets = new UnionFind(count);
  const pairs: [number, number][] = [];
  let checked = 0;
  for (let at = 0; at < candidates.length; at++) {
    const [i, j] = candidates[at]!;
    if (at > 0 && candidates[at - 1]![0] === i && candidates[at - 1]![1] === j) continue;
    checked++;
    if (!verify(i, j)) continue;
    pairs.push([i, j]);
    sets.union(i, j);
  }
  return { pairs, checked, clusters: clustersOf(sets) };
}
