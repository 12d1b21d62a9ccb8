import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { FER2013_IDS } from '../vocabulary.js';
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
export const readFer2013Csv: FormatReader = async (view) => {
  const listing = emptyListing();
  const csvFiles = Object.keys(view.files).filter((rel) => rel.toLowerCase().endsWith('.csv'));
  if (csvFiles.length === 0) listing.skipped.push({ origPath: '.', reason: 'no .csv file in this source' });
  for (const rel of csvFiles) await readCsv(view.filePath(rel), rel, listing);
  return listing;
};

/** Enough of the file for its header line (a FER2013 header is about 20 bytes). */
const HEADER_BYTES = 64 << 10;

function headerOf(file: string): string[] | undefined {
  const start = Buffer.alloc(HEADER_BYTES);
  const fd = fs.openSync(file, 'r');
  try {
    const length = fs.readSync(fd, start, 0, HEADER_BYTES, 0);
    // The parser stops after one record, so only the header is read even when the rest is cut mid-row.
    const options = { bom: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, to: 1 };
    return (parseSync(start.subarray(0, length), options) as string[][])[0];
  } finally {
    fs.closeSync(fd);
  }
}

interface Columns {
  emotion: number;
  pixels: number;
  usage: number;
}

/** Why a header cannot be read as FER2013, or its columns. */
function columnsOf(header: string[]): Columns | string {
  const names = header.map((h) => h.trim().toLowerCase());
  const found = `found "${header.join(',')}"`;
  const [emotion, pixels, usage] = ['emotion', 'pixels', 'usage'].map((name) => names.indexOf(name)) as [
    number,
    number,
    number,
  ];
  if (pixels < 0) return `header names no "pixels" column (${found}); fer2013-csv reads emotion,pixels[,Usage]`;
  if (emotion < 0) {
    return (
      'no "emotion" column: the file is unlabelled (as Kaggle\'s test.csv is) and cannot be merged; use ' +
      "the labelled fer2013.csv or icml_face_data.csv (all 35,887 images, with Usage) or Kaggle's train.csv"
    );
  }
  return { emotion, pixels, usage };
}

/**
 * The header first, so a refused file is not parsed whole; then the rows, streamed from the file so that only
 * the pixel texts are held, not the file's bytes as well (the original FER2013 CSV is 290 MB).
 */
async function readCsv(file: string, rel: string, listing: SourceListing): Promise<void> {
  const header = headerOf(file);
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
  const rows = parse({
    bom: true,
    relax_column_count: true, // a short row is reported as such below, not as a parse failure of the file
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (error) => {
      if (error) listing.skipped.push({ origPath: `${rel}:${error.lines}`, reason: `not valid CSV: ${error.message}` });
    },
    on_record: (cells: string[], { lines, records }) => {
      if (records > 1) onRow(cells, lines); // the first record is the header, read above
      return null; // rows become images here, not a stream of 35,887 records
    },
  });
  rows.resume(); // nothing comes out (on_record keeps every row), but the stream must flow to end
  // 1 MB reads: fewer hand-offs between the file and the parser than the default 64 KB.
  await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), rows);
}
