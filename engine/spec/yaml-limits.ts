import { isAlias, isMap, isPair, isScalar, isSeq, Lexer, type Document, type Node } from 'yaml';
import type { SpecPath } from './source-map.js';

/**
 * How deeply a pipeline may nest. Real ones nest under 10 levels; the YAML composer recurses once per level and
 * overflows the stack near 900, so deeper input is refused before it is composed.
 */
export const MAX_DEPTH = 64;

const CONTROL = new Set(['\u0002', '\u0018', '\u001f']); // the lexer's markers, not source characters

/**
 * The source offset where nesting first exceeds MAX_DEPTH, or undefined. Works on lexer tokens in one linear
 * pass (no recursion, stopping at the first excess): flow collections count by their brackets, block nodes by
 * the columns they start at, as an indentation stack does. It may undercount a block sequence written at its
 * key's column by one level, which the exact check on the composed document (`deepestNode`) catches.
 */
export function depthExcess(text: string): number | undefined {
  const columns: number[] = [];
  let flow = 0;
  let offset = 0;
  let column = 0;
  let nodeMayStart = true; // at a line's first token, or just after a `- ` or `? ` indicator
  for (const token of new Lexer().lex(text)) {
    if (CONTROL.has(token)) continue;
    const blank = /^[ \t]*$/.test(token);
    if (token === '\n' || token === '\r\n') {
      nodeMayStart = true;
    } else if (!blank && !token.startsWith('#')) {
      if (flow === 0 && nodeMayStart) {
        while (columns.length && columns.at(-1)! > column) columns.pop();
        if (!columns.length || columns.at(-1)! < column) columns.push(column);
      }
      if (token === '[' || token === '{') flow++;
      else if (token === ']' || token === '}') flow = Math.max(0, flow - 1);
      if (columns.length + flow > MAX_DEPTH) return offset;
      nodeMayStart = token === '-' || token === '?';
    }
    offset += token.length;
    const newline = token.lastIndexOf('\n');
    column = newline >= 0 ? token.length - newline - 1 : column + token.length;
  }
  return undefined;
}

/** The first node nested deeper than MAX_DEPTH in a composed document (an explicit stack: no recursion). */
export function deepestNode(document: Document): Node | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: document.contents, depth: 1 }];
  while (stack.length) {
    const { node, depth } = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > MAX_DEPTH) return node as Node;
    for (const item of node.items) {
      if (isPair(item)) stack.push({ node: item.value, depth: depth + 1 });
      else stack.push({ node: item, depth: depth + 1 });
    }
  }
  return undefined;
}

/** Every scalar of the document with its path in the spec, for checks the schema cannot make (finite numbers). */
export function* scalarsWithPaths(document: Document): Generator<{ path: SpecPath; node: Node; value: unknown }> {
  const stack: { node: unknown; path: SpecPath }[] = [{ node: document.contents, path: [] }];
  while (stack.length) {
    const { node, path } = stack.pop()!;
    if (isScalar(node)) yield { path, node, value: node.value };
    else if (isMap(node)) {
      for (const pair of node.items) stack.push({ node: pair.value, path: [...path, keyName(pair.key)] });
    } else if (isSeq(node)) node.items.forEach((item, i) => stack.push({ node: item, path: [...path, i] }));
  }
}

/**
 * Keys that appear twice in one mapping, each with the path of its mapping. Checked here, with a set per
 * mapping, rather than by the yaml library's uniqueKeys, which compares every key with every earlier one: a
 * 1 MiB mapping of 25,000 keys took 10 s. Keys are compared as the spec's objects will hold them (1 and "1" clash).
 */
export function duplicateKeys(document: Document): { key: string; path: SpecPath; node: Node }[] {
  const found: { key: string; path: SpecPath; node: Node }[] = [];
  const stack: { node: unknown; path: SpecPath }[] = [{ node: document.contents, path: [] }];
  while (stack.length) {
    const { node, path } = stack.pop()!;
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = keyName(pair.key);
        if (seen.has(key) && key !== '<<') found.push({ key, path, node: pair.key as Node });
        seen.add(key);
        stack.push({ node: pair.value, path: [...path, key] });
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => stack.push({ node: item, path: [...path, i] }));
  }
  return found.sort((a, b) => (a.node.range?.[0] ?? 0) - (b.node.range?.[0] ?? 0));
}

/** The first alias of the document (of anchor `name`, when given), to point at when aliases go wrong. */
export function firstAlias(document: Document, name?: string): Node | undefined {
  const stack: unknown[] = [document.contents];
  while (stack.length) {
    const node = stack.pop();
    if (isAlias(node) && (name === undefined || node.source === name)) return node as Node;
    // Pushed last to first, so the first alias in the file is popped first.
    if (isMap(node)) for (const pair of [...node.items].reverse()) stack.push(pair.value, pair.key);
    else if (isSeq(node)) stack.push(...[...node.items].reverse());
  }
  return undefined;
}

function keyName(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}
