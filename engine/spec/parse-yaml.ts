import { LineCounter, parseDocument } from 'yaml';
import type { Diagnostic } from './diagnostics.js';
import { dotted, SourceMap } from './source-map.js';
import { deepestNode, depthExcess, duplicateKeys, firstAlias, MAX_DEPTH, scalarsWithPaths } from './yaml-limits.js';

/** Alias expansions allowed (the yaml library's default, named so the message can say it). */
const MAX_ALIAS_COUNT = 100;

type Failed = { diagnostics: Diagnostic[] };
const failed = (diagnostics: Diagnostic[]): Failed => ({ diagnostics });

/**
 * The spec's YAML as plain values, with the source map that positions later diagnostics, or why it cannot be
 * had: a syntax error, a duplicate key, nesting past MAX_DEPTH, an alias bomb or a number that is not finite.
 * Nothing here recurses on the input's depth before that depth is known to be small.
 */
export function parseSpecYaml(file: string, text: string): { raw: unknown; sourceMap: SourceMap } | Failed {
  const lines = new LineCounter();
  const tooDeep = (offset: number): Failed => {
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    return failed([
      {
        code: 'too-deep',
        severity: 'error',
        file,
        at: { line, column, length: 1 },
        message:
          `the spec nests deeper than ${MAX_DEPTH} levels (fer-dag's depth limit; ` +
          'real pipelines need under 10); flatten it',
      },
    ]);
  };
  const excess = depthExcess(text);
  if (excess !== undefined) return tooDeep(excess);
  const document = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const sourceMap = new SourceMap(document, lines, text);
  const diagnostics: Diagnostic[] = [];

  for (const error of document.errors) {
    if (/call stack/i.test(error.message)) return tooDeep(error.pos[0]);
    diagnostics.push({
      code: 'yaml-syntax',
      severity: 'error',
      file,
      message: `YAML syntax error: ${error.message.split('\n')[0]}`,
      at: sourceMap.positionOfOffset(error.pos[0], Math.max(1, error.pos[1] - error.pos[0])),
    });
  }
  for (const duplicate of duplicateKeys(document)) {
    diagnostics.push({
      code: 'duplicate-key',
      severity: 'error',
      file,
      path: dotted([...duplicate.path, duplicate.key]),
      message:
        `${duplicate.path.length ? `${dotted(duplicate.path)}: ` : ''}duplicate key "${duplicate.key}": ` +
        'each key may appear once in a mapping',
      at: sourceMap.positionOf(duplicate.node),
    });
  }
  if (diagnostics.length) return failed(diagnostics);
  const deepest = deepestNode(document);
  if (deepest?.range) return tooDeep(deepest.range[0]);

  for (const { path: where, node, value } of scalarsWithPaths(document)) {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      const written = node.range ? text.slice(node.range[0], node.range[1]).trim() : String(value);
      diagnostics.push({
        code: 'not-finite',
        severity: 'error',
        file,
        path: dotted(where),
        message: `${dotted(where) || 'the pipeline'} is ${written}, which is not a finite number; write a number in range`,
        at: sourceMap.positionOf(node),
      });
    }
  }
  const byPosition = (a: Diagnostic, b: Diagnostic) => a.at!.line - b.at!.line || a.at!.column - b.at!.column;
  if (diagnostics.length) return failed(diagnostics.sort(byPosition));

  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const unresolved = /Unresolved alias.*?: (\S+)/.exec((error as Error).message);
    if (unresolved) {
      return failed([
        {
          code: 'yaml-syntax',
          severity: 'error',
          file,
          at: sourceMap.positionOf(firstAlias(document, unresolved[1])),
          message:
            `alias *${unresolved[1]} names no anchor (&${unresolved[1]}) defined before it; ` +
            'define the anchor first or write the value out',
        },
      ]);
    }
    if (!/Excessive alias/i.test((error as Error).message)) throw error;
    return failed([
      {
        code: 'yaml-limit',
        severity: 'error',
        file,
        at: sourceMap.positionOf(firstAlias(document)),
        message:
          `aliases (*name) expand to too many nodes (fer-dag's limit: ${MAX_ALIAS_COUNT}, ` +
          'as in a "billion laughs" document); write the values out, or use fewer aliases of aliases',
      },
    ]);
  }
  return { raw, sourceMap };
}
