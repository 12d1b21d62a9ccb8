import { FER2013_IDS } from './emotions.js';
import { emptyListing, type FormatReader, type Split } from './listing.js';

const USAGE_SPLIT: Record<string, Split> = { Training: 'train', PublicTest: 'val', PrivateTest: 'test' };
const SIDE = 48;

/**
 * The original FER2013 CSV: `emotion,pixels,Usage`, 2304 space-separated gray values a row, FER2013's own
 * label order (4 = sad, 6 = neutral). A bad row is skipped and named by its line number; the rest load.
 * The source may be the CSV itself or a folder holding CSV files.
 */
export const readFer2013Csv: FormatReader = (view) => {
  const listing = emptyListing();
  const csvFiles = Object.keys(view.files).filter((rel) => rel.toLowerCase().endsWith('.csv'));
  if (csvFiles.length === 0) listing.skipped.push({ origPath: '.', reason: 'no .csv file in this source' });
  for (const rel of csvFiles) {
    const lines = view.readText(rel).split(/\r?\n/);
    const header = lines[0]?.split(',').map((h) => h.trim().toLowerCase()) ?? [];
    const emotionCol = header.indexOf('emotion');
    const pixelsCol = header.indexOf('pixels');
    const usageCol = header.indexOf('usage');
    if (emotionCol < 0 || pixelsCol < 0) {
      listing.skipped.push({ origPath: `${rel}:1`, reason: `header must name "emotion" and "pixels" columns, found "${lines[0] ?? ''}"` });
      continue;
    }
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (!line.trim()) continue;
      const origPath = `${rel}:${i + 1}`;
      const cells = line.split(',');
      const id = Number(cells[emotionCol]);
      const label = FER2013_IDS[id];
      if (!Number.isInteger(id) || label === undefined) {
        listing.skipped.push({ origPath, reason: `emotion "${cells[emotionCol]}" is not a FER2013 id 0–6` });
        continue;
      }
      const pixelText = cells[pixelsCol] ?? '';
      const count = pixelText.trim() ? pixelText.trim().split(/\s+/).length : 0;
      if (count !== SIDE * SIDE) {
        listing.skipped.push({ origPath, reason: `${count} pixels, expected ${SIDE * SIDE} (48×48)` });
        continue;
      }
      const usage = usageCol >= 0 ? (cells[usageCol] ?? '').trim() : '';
      const split = USAGE_SPLIT[usage];
      listing.images.push({
        origPath,
        sourceLabel: String(id),
        label,
        bytes: { kind: 'pixels', width: SIDE, height: SIDE, channels: 1, read: () => pixelText },
        ...(split ? { split } : {}),
        ...(usage ? { fields: { usage } } : {}),
      });
    }
  }
  return listing;
};
