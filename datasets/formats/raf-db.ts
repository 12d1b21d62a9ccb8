import { RAFDB_IDS } from '../vocabulary.js';
import { emptyListing, type DatasetOptions, type SourceListing } from './listing.js';
import type { InputView } from '../../engine/stage.js';

const DEFAULT_LABEL_FILES = ['EmoLabel/list_patition_label.txt', 'list_patition_label.txt'];
const DEFAULT_IMAGE_DIRS = ['Image/aligned', 'Image/original', 'aligned', 'original', ''];
const ANNOTATION_DIRS = ['Annotation/manual', 'manual'];

/** RAF-DB's codes in `<name>_manu_attri.txt`, lines 6–8 (after five landmark lines); gender 2 is "unsure". */
const RAF_GENDERS: Record<string, string> = { 0: 'male', 1: 'female' };
const RAF_RACES: Record<string, string> = { 0: 'white', 1: 'black', 2: 'asian' };
/** Age ranges in whole years, inclusive; 70+ is open, written as up to 120. */
const RAF_AGES: Record<string, [number, number]> = { 0: [0, 3], 1: [4, 19], 2: [20, 39], 3: [40, 69], 4: [70, 120] };

/**
 * The manual attributes of one image, as agr reads annotations: gender and ethnicity where RAF-DB is sure,
 * the age as a range (`ageMin`, `ageMax`), which agr turns into a bucket only where the range lies in one.
 */
export function rafAttributes(text: string): Record<string, string | number> {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const [gender, race, age] = [lines[5], lines[6], lines[7]];
  const out: Record<string, string | number> = {};
  if (gender !== undefined && RAF_GENDERS[gender]) out.gender = RAF_GENDERS[gender]!;
  if (race !== undefined && RAF_RACES[race]) out.ethnicity = RAF_RACES[race]!;
  const range = age !== undefined ? RAF_AGES[age] : undefined;
  if (range) [out.ageMin, out.ageMax] = range;
  return out;
}

/**
 * RAF-DB basic: a label list (`train_00001.jpg 5`, 1-based ids: 1 surprise … 7 neutral) plus an image
 * folder. The aligned crops are named `train_00001_aligned.jpg`; both namings are found. The split comes
 * from the file name's `train_`/`test_` prefix. Where `Annotation/manual/<name>_manu_attri.txt` exists its
 * gender, race and age range become the image's annotations.
 */
export function readRafDb(view: InputView, options: DatasetOptions): SourceListing {
  const listing = emptyListing();
  const labelFile = options.labelFile ?? DEFAULT_LABEL_FILES.find((f) => view.files[f]);
  if (!labelFile || !view.files[labelFile]) {
    listing.skipped.push({
      origPath: labelFile ?? DEFAULT_LABEL_FILES[0]!,
      reason: 'label list not found; set labelFile: in the dataset entry',
    });
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
      listing.skipped.push({
        origPath: where,
        reason: `image ${name} is listed but not found under ${imageDirs.filter(Boolean).join(' or ') || 'the root'}`,
      });
      continue;
    }
    const split = name.startsWith('train') ? 'train' : name.startsWith('test') ? 'test' : undefined;
    const attributeFile = ANNOTATION_DIRS.map((dir) => `${dir}/${stem}_manu_attri.txt`).find((f) => view.files[f]);
    const annotations = attributeFile ? rafAttributes(view.readText(attributeFile)) : undefined;
    listing.images.push({
      origPath: rel,
      sourceLabel: idText!,
      label,
      bytes: { kind: 'file', rel },
      ...(split ? { split } : {}),
      ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
    });
  }
  return listing;
}
