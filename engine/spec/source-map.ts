import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { Position } from './diagnostics.js';

export type SpecPath = readonly (string | number)[];

/**
 * Keeps the parsed YAML document so that any later check can point at the exact node a value came from.
 * `locate` walks down the path as far as it exists, so a missing property points at its parent.
 */
export class SourceMap {
  constructor(
    private readonly document: Document,
    private readonly lines: LineCounter,
    private readonly text = '',
  ) {}

  /** Position of the value at `path`; with `key: true`, of the key naming it (better for unknown keys). */
  locate(path: SpecPath, options: { key?: boolean } = {}): Position {
    const { node, keyNode } = this.walk(path);
    const target = options.key && keyNode ? keyNode : (node ?? keyNode);
    return this.positionOf(target);
  }

  private nodeAt(path: SpecPath): Node | undefined {
    return this.walk(path).node ?? undefined;
  }

  private walk(path: SpecPath): { node: Node | null | undefined; keyNode: Node | undefined } {
    let node: Node | null | undefined = this.document.contents as Node | null;
    let keyNode: Node | undefined;
    for (const segment of path) {
      if (isMap(node)) {
        const pair: Pair | undefined = (node.items as Pair[]).find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
        );
        if (!pair) break;
        keyNode = pair.key as Node;
        node = (pair.value as Node | null) ?? keyNode;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment]) {
        keyNode = undefined;
        node = node.items[segment] as Node;
      } else {
        break;
      }
    }
    return { node, keyNode };
  }

  /** Position of `needle` inside the value at `path` (e.g. one `${VAR}` of a path), else of the whole value. */
  locateWithin(path: SpecPath, needle: string): Position {
    const whole = this.locate(path);
    const node = this.nodeAt(path);
    const found = node?.range ? this.text.indexOf(needle, node.range[0]) : -1;
    if (!node?.range || found < 0 || found >= node.range[1]) return whole;
    return this.positionOfOffset(found, needle.length);
  }

  positionOfOffset(offset: number, length = 1): Position {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col, length };
  }

  positionOf(node: Node | null | undefined): Position {
    const range = node?.range;
    if (!range) return { line: 1, column: 1, length: 1 };
    const start = this.positionOfOffset(range[0]);
    const end = this.lines.linePos(range[1]);
    const length = end.line === start.line ? Math.max(1, end.col - start.column) : 1;
    return { ...start, length };
  }
}

export function dotted(path: SpecPath): string {
  return path.map(String).join('.');
}
