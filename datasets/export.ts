import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256FileSync } from '../cache/hash.js';
import { CorruptBlobError, type StageRecord, type Store } from '../cache/store.js';
import { MANIFEST } from './manifest.js';
import type { ManifestRecord } from './record.js';
import { EMOTIONS } from './vocabulary.js';

export type ExportLayout = 'class' | 'subgroup';

export interface ExportReport {
  files: number;
  images: number;
  linked: number;
  copied: number;
}

export class ExportError extends Error {}

/** The folder, beside the 40 subgroups, of images that have none. */
export const UNASSIGNED = 'unassigned';

const hasAttributes = (line: ManifestRecord): boolean => Boolean(line.gender && line.age && line.ethnicity);

const EXTENSIONS: Record<string, string> = {
  jpeg: '.jpg',
  jpg: '.jpg',
  png: '.png',
  webp: '.webp',
  bmp: '.bmp',
  gif: '.gif',
};

/** A file name that says where the image came from: `nhfi__train_anger_a.png`, `fer2013__fer2013.csv_2.png`. */
function exportName(line: ManifestRecord): string {
  const base = `${line.source}__${line.origPath.replace(/[/:\\]/g, '_')}`;
  const ext = EXTENSIONS[line.format] ?? path.extname(line.origPath);
  return base.toLowerCase().endsWith(ext) ? base : `${base}${ext}`;
}

/**
 * A copy, hashed as it is made (a reflink where the file system has them: no extra space, and a write to
 * it cannot reach the store). With `link`, a hard link to the blob after checking its bytes: no space at
 * all, but the exported file is the store's file, and a write to it (root ignores the 0444 mode) corrupts it.
 */
function place(store: Store, hash: string, target: string, link: boolean, report: ExportReport): void {
  if (link) {
    const blob = store.blobPath(hash);
    const actual = store.hasBlob(hash) ? sha256FileSync(blob) : undefined;
    if (actual !== hash) {
      if (actual) store.discardBlob(hash);
      throw new CorruptBlobError(hash, actual ? 'was corrupt and has been removed' : 'is missing');
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    try {
      fs.linkSync(blob, target);
      report.linked++;
      return;
    } catch {
      // Another file system, or links not allowed: a copy will do.
    }
  }
  store.restoreBlob(hash, target);
  report.copied++;
}

/**
 * Writes a stage's output files into `dir`; a dataset (an output with manifest.jsonl) is also laid out as
 * folders: `dir/<class id>/…` (the paper's layout) or `dir/<emotion>/<gender-age-ethnicity>/…` (`unassigned/`
 * for images agr could not give attributes).
 */
export function exportStage(
  store: Store,
  record: StageRecord,
  dir: string,
  layout: ExportLayout,
  link = false,
): ExportReport {
  const report: ExportReport = { files: 0, images: 0, linked: 0, copied: 0 };
  for (const [rel, entry] of Object.entries(record.outputs)) {
    store.restoreBlob(entry.hash, path.join(dir, rel));
    report.files++;
  }
  const manifest = record.outputs[MANIFEST];
  if (!manifest) {
    if (layout === 'subgroup')
      throw new ExportError(`stage ${record.stage} has no manifest.jsonl: --by subgroup needs a dataset stage`);
    return report;
  }
  const lines = store
    .readVerifiedBlob(manifest.hash)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ManifestRecord);
  if (layout === 'subgroup' && lines.length && !lines.some(hasAttributes)) {
    throw new ExportError(
      `the manifest of stage ${record.stage} has no image with gender, age and ethnicity: export a stage at or after agr with --by subgroup`,
    );
  }
  for (const line of lines) {
    const classId = EMOTIONS.indexOf(line.label);
    // Images agr flagged (no face, several faces) have no subgroup; they are kept, apart.
    const subgroup = hasAttributes(line) ? `${line.gender}-${line.age}-${line.ethnicity}` : UNASSIGNED;
    const folder = layout === 'class' ? String(classId) : path.join(line.label, subgroup);
    place(store, line.blob, path.join(dir, folder, exportName(line)), link, report);
    report.images++;
  }
  return report;
}
