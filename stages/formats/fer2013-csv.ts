import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { FER2013_IDS } from './emotions.js';
import { emptyListing, splitFolder, type FormatReader, type SourceListing, type Split } from './listing.js';

const USAGE_SPLIT: Record<string, Split> = { Training: 'train', PublicTest: 'val', PrivateTest: 'test' };
const SIDE = 48;

/**
 * FER2013 as it circulates, read with a real CSV parser (csv-parse: quoting, CRLF, a byte-order mark):
 * - the original `fer2013.csv`: `emotion,pixels,Usage`;
 * - Kaggle's `icml_face_data.csv`: `emotion, Usage, pixels` (a space after each comma of the header);
 * - Kaggle's `train.csv`: `emotion,"pixels"` without `Usage`. It holds exactly FER2013's Training part, so
 *   a file without `Usage` takes its split from its name, as a `train/` folder does (`train.csv` → train);
 *   any other name gets no split and distribute splits it;
 * - Kaggle's `test.csv` has no `emotion` column: it is refused, naming the labelled files to use instead.
 * 2304 space-separated gray values a row, FER2013's own label order (4 = sad, 6 = neutral). A bad row is
 * skipped and named by its line number; the rest load. The source may be a CSV or a folder holding CSVs.
 */
export const readFer2013Csv: FormatReader = (view) => {
  const listing = emptyListing();
  const csvFiles = Object.keys(view.files).filter((rel) => rel.toLowerCase().endsWith('.csv'));
  if (csvFiles.length === 0) listing.skipped.push({ origPath: '.', reason: 'no .csv file in this source' });
  for (const rel of csvFiles) readCsv(view.readFile(rel), rel, listing);
  return listing;
};

interface Columns {
  emotion: number;
  pixels: number;
  usage: number;
}

/** Why a header cannot be read as FER2013, or its columns. */
function columnsOf(header: string[]): Columns | string {
  const names = header.map((h) => h.trim().toLowerCase());
  const found = `found "${header.join(',')}"`;
  const [emotion, pixels, usage] = ['emotion', 'pixels', 'usage'].map((name) => names.indexOf(name)) as
    [number, number, number];
  if (pixels < 0) return `header names no "pixels" column (${found}); fer2013-csv reads emotion,pixels[,Usage]`;
  if (emotion < 0) {
    return 'no "emotion" column: the file is unlabelled (as Kaggle\'s test.csv is) and cannot be merged; use ' +
      "the labelled fer2013.csv or icml_face_data.csv (all 35,887 images, with Usage) or Kaggle's train.csv";
  }
  return { emotion, pixels, usage };
}

function readCsv(bytes: Buffer, rel: string, listing: SourceListing): void {
  // The header alone first (the parser stops after one record), so a refused file is not parsed whole.
  const [header] = parse(bytes, { bom: true, skip_empty_lines: true, relax_column_count: true, to: 1 }) as string[][];
  if (!header) {
    const reason = 'the file is empty (expected a header emotion,pixels[,Usage] and rows)';
    listing.skipped.push({ origPath: rel, reason });
    return;
  }
  const columns = columnsOf(header);
  if (typeof columns === 'string') {
    listing.skipped.push({ origPath: `${rel}:1`, reason: columns });
    return;
  }
  // Without Usage, the file's own name is its split (Kaggle's train.csv is FER2013's Training part).
  const nameSplit = splitFolder(path.posix.basename(rel, path.extname(rel)));
  const onRow = (cells: string[], line: number): void => {
    const origPath = `${rel}:${line}`;
    const { emotion: emotionCol, pixels: pixelsCol, usage: usageCol } = columns;
    const idText = (cells[emotionCol] ?? '').trim();
    const id = /^\d+$/.test(idText) ? Number(idText) : NaN;
    const label = FER2013_IDS[id];
    if (label === undefined) {
      listing.skipped.push({ origPath, reason: `emotion "${cells[emotionCol] ?? ''}" is not a FER2013 id 0–6` });
      return;
    }
    // Counted and range-checked where they are parsed, on merge's worker threads: a row with another count
    // is skipped there as "N pixels, expected 2304", under the same line number.
    const pixelText = cells[pixelsCol] ?? '';
    const usage = usageCol >= 0 ? (cells[usageCol] ?? '').trim() : '';
    const split = usageCol >= 0 ? USAGE_SPLIT[usage] : nameSplit;
    listing.images.push({
      origPath,
      sourceLabel: String(id),
      label,
      bytes: { kind: 'pixels', width: SIDE, height: SIDE, channels: 1, read: () => pixelText },
      ...(split ? { split } : {}),
      ...(usage ? { fields: { usage } } : {}),
    });
  };
  parse(bytes, {
    bom: true,
    relax_column_count: true, // a short row is reported as such below, not as a parse failure of the file
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (error) => {
      if (error) listing.skipped.push({ origPath: `${rel}:${error.lines}`, reason: `not valid CSV: ${error.message}` });
    },
    on_record: (cells: string[], { lines, records }) => {
      if (records > 1) onRow(cells, lines); // the first record is the header, read above
      return null; // rows become images here, not an array of 35,887 records
    },
  });
}
