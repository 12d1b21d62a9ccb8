import sharp from 'sharp';
import { encodePng } from '../datasets/images/codec/png.js';
import { decodeImage } from '../datasets/images/prepare.js';
import { resizeSquare, toChannels } from '../datasets/images/raster.js';

export interface SheetItem {
  /** The image file's bytes (a stored blob). */
  image: Uint8Array;
  /** Under the thumbnail, e.g. "happy → sad" and "p 0.83". */
  caption: [string, string];
}

export interface SheetRow {
  title: string;
  items: SheetItem[];
}

const THUMB = 96;
const GAP = 8;
const TITLE_WIDTH = 110;
const CAPTION = 30;

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A contact sheet of label issues for a person to check by eye: one row per class, the most confident
 * issues first, each thumbnail captioned with its old and new label. Thumbnails are our own PNGs embedded
 * in an SVG that sharp (librsvg) rasterises, so the same issues give the same picture.
 */
export async function renderContactSheet(rows: readonly SheetRow[], title: string, subtitle = ''): Promise<Buffer> {
  const columns = Math.max(1, ...rows.map((r) => r.items.length));
  const width = TITLE_WIDTH + columns * (THUMB + GAP) + GAP;
  const rowHeight = THUMB + CAPTION + GAP;
  const top0 = subtitle ? 58 : 40;
  const height = top0 + rows.length * rowHeight + GAP;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${GAP}" y="26" font-family="sans-serif" font-size="18" font-weight="bold">${escape(title)}</text>`,
  ];
  if (subtitle)
    parts.push(
      `<text x="${GAP}" y="46" font-family="sans-serif" font-size="12" fill="#555">${escape(subtitle)}</text>`,
    );
  for (const [r, row] of rows.entries()) {
    const top = top0 + r * rowHeight;
    parts.push(
      `<text x="${GAP}" y="${top + THUMB / 2}" font-family="sans-serif" font-size="14" font-weight="bold">${escape(row.title)}</text>`,
    );
    if (row.items.length === 0)
      parts.push(
        `<text x="${TITLE_WIDTH}" y="${top + THUMB / 2}" font-family="sans-serif" font-size="12" fill="#777">no issues</text>`,
      );
    for (const [c, item] of row.items.entries()) {
      const left = TITLE_WIDTH + c * (THUMB + GAP);
      const raster = resizeSquare(toChannels(await decodeImage(item.image), 3), THUMB, 'cover');
      const uri = `data:image/png;base64,${encodePng(raster).toString('base64')}`;
      parts.push(`<image x="${left}" y="${top}" width="${THUMB}" height="${THUMB}" xlink:href="${uri}"/>`);
      parts.push(
        `<text x="${left}" y="${top + THUMB + 13}" font-family="sans-serif" font-size="11">${escape(item.caption[0])}</text>`,
      );
      parts.push(
        `<text x="${left}" y="${top + THUMB + 26}" font-family="sans-serif" font-size="11" fill="#555">${escape(item.caption[1])}</text>`,
      );
    }
  }
  parts.push('</svg>');
  return sharp(Buffer.from(parts.join('\n')))
    .png()
    .toBuffer();
}
