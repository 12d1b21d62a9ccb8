import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Diagnostic, Position } from './diagnostics.js';

/**
 * The largest pipeline file read. Real pipelines are a few KB (paper.yaml: 9 KB, so this is 28 times that); a
 * bigger file is data put in the wrong place. Dense YAML costs about 2.5 s and 250 MB per MiB to parse.
 */
export const MAX_PIPELINE_BYTES = 256 * 1024;

const START: Position = { line: 1, column: 1, length: 1 };

/**
 * The pipeline file's text, or why it is not one: missing, a folder, too big, binary, not UTF-8 or empty. Each
 * refusal says what to do instead; those about the content carry the position of the first offending byte.
 */
export function readPipelineSource(file: string, shown: string): { text: string } | { diagnostic: Diagnostic } {
  const refuse = (message: string, at?: Position, code: Diagnostic['code'] = 'unreadable') => ({
    diagnostic: { code, severity: 'error' as const, file, message, at },
  });
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    const why = missing ? 'does not exist' : `cannot be read (${(error as Error).message})`;
    return refuse(`pipeline file ${shown} ${why}; pass the path of a pipeline .yaml file`, undefined, 'no-such-file');
  }
  if (stat.isDirectory()) {
    const candidates = fs
      .readdirSync(file)
      .filter((n) => /\.ya?ml$/i.test(n))
      .sort();
    const hint = candidates.length
      ? `pass one of its pipeline files: ${candidates
          .slice(0, 5)
          .map((n) => path.join(shown, n))
          .join(', ')}`
      : 'it holds no .yaml file; pass the path of a pipeline .yaml file';
    return refuse(`${shown} is a folder, not a pipeline file; ${hint}`, START);
  }
  if (!stat.isFile()) return refuse(`${shown} is not a regular file; pass the path of a pipeline .yaml file`, START);
  if (stat.size > MAX_PIPELINE_BYTES) {
    return refuse(
      `${shown} is ${megabytes(stat.size)}; a pipeline file may be at most ${megabytes(MAX_PIPELINE_BYTES)} ` +
        "(fer-dag's size limit): keep data in files that datasets or deps name, not in the spec",
      START,
      'too-large',
    );
  }
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    return refuse(`pipeline file ${shown} cannot be read: ${(error as Error).message}`, START);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const message = `${shown} is a binary file (a NUL byte here), not a YAML pipeline; pass the pipeline's .yaml file`;
    return refuse(message, positionOfByte(bytes, nul));
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return refuse(
      `${shown} is not UTF-8 text (an invalid byte here); save the pipeline as UTF-8`,
      positionOfByte(bytes, firstInvalidUtf8(bytes)),
    );
  }
  if (
    text
      .replace(/^\uFEFF/, '')
      .replace(/#[^\n]*/g, '')
      .trim() === ''
  ) {
    const needs = 'a pipeline has at least "version: 1" and a "stages:" mapping (see pipelines/demo.yaml)';
    return refuse(`${shown} is empty; ${needs}`, START);
  }
  return { text };
}

function megabytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function positionOfByte(bytes: Buffer, offset: number): Position {
  const before = bytes.subarray(0, offset);
  let line = 1;
  let lineStart = 0;
  for (let i = before.indexOf(10); i >= 0; i = before.indexOf(10, i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1, length: 1 };
}

/** Offset of the first byte that cannot start or continue a UTF-8 sequence (0 when the problem is subtler). */
function firstInvalidUtf8(bytes: Buffer): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const length = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (length === 0) return i;
    for (let k = 1; k < length; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += length;
  }
  return 0;
}
