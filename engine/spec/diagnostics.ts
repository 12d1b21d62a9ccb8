import * as fs from 'node:fs';
import * as path from 'node:path';

/** Why a pipeline was refused, in kebab-case, so tests and tools can tell failures apart without parsing text. */
export type DiagnosticCode =
  | 'yaml-syntax'
  | 'duplicate-key'
  | 'schema'
  | 'unknown-stage-type'
  | 'unknown-reference'
  | 'name-clash'
  | 'cycle'
  | 'missing-path'
  | 'duplicate-out'
  | 'no-such-file'
  | 'unreadable'
  | 'too-large'
  | 'too-deep'
  | 'yaml-limit'
  | 'not-finite'
  | 'unset-variable'
  | 'unsafe-out'
  | 'invalid-value'
  | 'wrong-input'
  | 'unknown-measure';

export interface Position {
  line: number; // 1-based
  column: number; // 1-based
  /** Length of the marked span on that line, at least 1. */
  length: number;
}

export interface Diagnostic {
  code: DiagnosticCode;
  severity: 'error' | 'warning';
  file: string;
  /** Dotted path into the spec (`stages.agr.params.batchSize`), when the problem has one. */
  path?: string;
  message: string;
  at?: Position;
}

/** An expected failure is a value: either the thing asked for, or the reasons it could not be had. */
export type Result<T> = { ok: true; value: T; warnings: Diagnostic[] } | { ok: false; diagnostics: Diagnostic[] };

/** Renders `file:line:col: message`, the offending source line, and a marker under the bad span. */
export function formatDiagnostic(diagnostic: Diagnostic, cwd = process.cwd(), source?: string): string {
  const file = path.relative(cwd, diagnostic.file) || diagnostic.file;
  const where = diagnostic.at ? `${file}:${diagnostic.at.line}:${diagnostic.at.column}` : file;
  const prefix = diagnostic.severity === 'warning' ? 'warning: ' : '';
  const lines = [`${where}: ${prefix}${diagnostic.message}`];
  // A file refused as unreadable (binary, not UTF-8, too large) is not echoed.
  if (diagnostic.at && !UNSHOWN.has(diagnostic.code)) {
    const text = source ?? readSource(diagnostic.file);
    const fullLine = text?.split(/\r?\n/)[diagnostic.at.line - 1];
    if (fullLine !== undefined) {
      const { line: sourceLine, column } = clip(fullLine, diagnostic.at.column);
      const gutter = String(diagnostic.at.line).padStart(4);
      lines.push(`${gutter} | ${sourceLine}`);
      const span = Math.min(diagnostic.at.length, sourceLine.length - column + 1, MAX_SHOWN_CHARS);
      const marker = '^'.repeat(Math.max(1, span));
      lines.push(`${' '.repeat(gutter.length)} | ${' '.repeat(column - 1)}${marker}`);
    }
  }
  return lines.join('\n');
}

const UNSHOWN = new Set<DiagnosticCode>(['unreadable', 'too-large', 'no-such-file']);

/** Longest part of a source line shown under a message: a 40 KB line is clipped around the column. */
const MAX_SHOWN_CHARS = 120;

function clip(line: string, column: number): { line: string; column: number } {
  if (line.length <= MAX_SHOWN_CHARS) return { line, column };
  const start = Math.max(0, Math.min(column - 1 - MAX_SHOWN_CHARS / 2, line.length - MAX_SHOWN_CHARS));
  const head = start > 0 ? '…' : '';
  const tail = start + MAX_SHOWN_CHARS < line.length ? '…' : '';
  return { line: `${head}${line.slice(start, start + MAX_SHOWN_CHARS)}${tail}`, column: column - start + head.length };
}

export function formatDiagnostics(diagnostics: Diagnostic[], cwd = process.cwd()): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const body = diagnostics.map((d) => formatDiagnostic(d, cwd)).join('\n\n');
  if (errors === 0) return body;
  return `${body}\n\n${errors} error${errors === 1 ? '' : 's'}; nothing was run.`;
}

function readSource(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Closest candidate by edit distance, for "did you mean" hints; undefined when nothing is close. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

export function didYouMean(word: string, candidates: Iterable<string>): string {
  const hint = closest(word, candidates);
  return hint ? `; did you mean "${hint}"?` : '';
}
