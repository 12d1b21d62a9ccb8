import { RAFDB_IDS } from './emotions.js';
import { emptyListing, type DatasetOptions, type SourceListing } from './listing.js';
import type { InputView } from '../types.js';

const DEFAULT_LABEL_FILES = ['EmoLabel/list_patition_label.txt', 'list_patition_label.txt'];
const DEFAULT_IMAGE_DIRS = ['Image/aligned', 'Image/original', 'aligned', 'original', ''];

/**
 * RAF-DB basic: a label list (`train_00001.jpg 5`, 1-based ids: 1 surprise … 7 neutral) plus an image
 * folder. The aligned crops are named `train_00001_aligned.jpg`; both namings are found. The split comes
 * from the file name's `train_`/`test_` prefix.
 */
export function readRafDb(view: InputView, options: DatasetOptions): SourceListing {
  const listing = emptyListing();
  const labelFile = options.labelFile ?? DEFAULT_LABEL_FILES.find((f) => view.files[f]);
  if (!labelFile || !view.files[labelFile]) {
    listing.skipped.push({ origPath: labelFile ?? DEFAULT_LABEL_FILES[0]!, reason: 'label list not found; set labelFile: in the dataset entry' });
    return listing;
  }
  const imageDirs = options.imageDir !== undefined ? [options.imageDir] : DEFAULT_IMAGE_DIRS;
  const lines = view.readText(labelFile).split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    const where = `${labelFile}:${i + 1}`;
    const [name, idText] = line.trim().split(/\s+/);
    const label = RAFDB_IDS[Number(idText)];
    if (!name || label === undefined) {
      listing.skipped.push({ origPath: where, reason: `expected "<image name> <id 1–7>", found "${line.trim()}"` });
      continue;
    }
    const stem = name.replace(/\.[^.]+$/, '');
    const ext = name.slice(stem.length);
    const rel = imageDirs
      .flatMap((dir) => [`${stem}_aligned${ext}`, name].map((n) => (dir ? `${dir}/${n}` : n)))
      .find((candidate) => view.files[candidate]);
    if (!rel) {
      listing.skipped.push({ origPath: where, reason: `image ${name} is listed but not found under ${imageDirs.filter(Boolean).join(' or ') || 'the root'}` });
      continue;
    }
    const split = name.startsWith('train') ? 'train' : name.startsWith('test') ? 'test' : undefined;
    listing.images.push({ origPath: rel, sourceLabel: idText!, label, bytes: { kind: 'file', rel }, ...(split ? { split } : {}) });
  }
  return listing;
}
