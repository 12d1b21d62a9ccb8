/**
 * A binary heap of (score, node) in typed arrays. `max` true pops the highest score first. Ties go to the lower
 * node so that the order of pops never depends on the heap's internal layout history.
 */
export class Heap {
  private scores = new Float64Array(64);
  private nodes = new Int32Array(64);
  size = 0;
  constructor(private readonly max: boolean) {}

  clear(): void {
    this.size = 0;
  }

  private before(a: number, b: number): boolean {
    const sa = this.scores[a]!;
    const sb = this.scores[b]!;
    if (sa !== sb) return this.max ? sa > sb : sa < sb;
    return this.nodes[a]! < this.nodes[b]!;
  }

  private swap(a: number, b: number): void {
    const s = this.scores[a]!;
    this.scores[a] = this.scores[b]!;
    this.scores[b] = s;
    const n = this.nodes[a]!;
    this.nodes[a] = this.nodes[b]!;
    this.nodes[b] = n;
  }

  push(score: number, node: number): void {
    if (this.size === this.scores.length) {
      const scores = new Float64Array(this.size * 2);
      const nodes = new Int32Array(this.size * 2);
      scores.set(this.scores);
      nodes.set(this.nodes);
      this.scores = scores;
      this.nodes = nodes;
    }
    let at = this.size++;
    this.scores[at] = score;
    this.nodes[at] = node;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.before(at, parent)) break;
      this.swap(at, parent);
      at = parent;
    }
  }

  topScore(): number {
    return this.scores[0]!;
  }

  topNode(): number {
    return this.nodes[0]!;
  }

  pop(): void {
    this.size--;
    if (this.size === 0) return;
    this.scores[0] = this.scores[this.size]!;
    this.nodes[0] = this.nodes[this.size]!;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= this.size) break;
      const right = left + 1;
      const child = right < this.size && this.before(right, left) ? right : left;
      if (!this.before(child, at)) break;
      this.swap(child, at);
      at = child;
    }
  }
}
