/**
 * An image's size read from its header, before any pixel is decoded: a 746 KB PNG of one flat colour can
 * declare 16000×16000 pixels, 768 MB once decoded and several times that on the way. Merge refuses such an
 * image from these few bytes (as libvips' limitInputPixels and Pillow's MAX_IMAGE_PIXELS do).
 */

/** 50 megapixels: a 7000×7000 photo passes; decoding one stays well under a gigabyte. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

export interface ImageSize {
  width: number;
  height: number;
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

function pngSize(b: Uint8Array): ImageSize | undefined {
  // Signature (8 bytes), then the IHDR chunk: length, "IHDR", width, height.
  if (b.length < 24 || String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!) !== 'IHDR') return undefined;
  return { width: u32(b, 16), height: u32(b, 20) };
}

/**
 * Where a JPEG's frame header (SOF0–SOF15) starts, walking the markers from the top; undefined when a scan or
 * the end comes first or the bytes stop. The frame header holds the size and the component count.
 */
export function jpegFrameHeader(b: Uint8Array): { marker: number; offset: number } | undefined {
  let offset = 2;
  while (offset + 4 <= b.length) {
    if (b[offset] !== 0xff) return undefined;
    const marker = b[offset + 1]!;
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    // C4 (Huffman tables), C8 (reserved) and CC (arithmetic tables) share the range but are not frames.
    const frame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (frame) return { marker, offset };
    if (marker === 0xda || marker === 0xd9) return undefined; // a scan or the end before any frame header
    offset += 2 + u16(b, offset + 2);
  }
  return undefined;
}

function jpegSize(b: Uint8Array): ImageSize | undefined {
  const frame = jpegFrameHeader(b);
  if (!frame || frame.offset + 9 > b.length) return undefined;
  return { width: u16(b, frame.offset + 7), height: u16(b, frame.offset + 5) };
}

/**
 * Width and height from a PNG or JPEG header (the formats FER datasets ship, read here without libvips'
 * per-call cost); undefined for other formats or a header too short to tell, which the caller asks libvips.
 */
export function headerSize(bytes: Uint8Array): ImageSize | undefined {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return pngSize(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes);
  return undefined;
}

/** Thrown for an image larger than the limit; the message names its size, the limit and the fix. */
export class PixelLimitError extends Error {
  constructor(size: ImageSize, maxPixels: number) {
    const amount = (n: number) => (n >= 1e6 ? `${Math.round(n / 1e5) / 10} megapixels` : `${n} pixels`);
    const limit = `maxPixels ${maxPixels}${maxPixels >= 1e6 ? ` (${amount(maxPixels)})` : ''}`;
    const declared = `${size.width}×${size.height} is ${amount(size.width * size.height)}`;
    super(`over the pixel limit: ${declared}, more than ${limit}; raise the merge stage's params.maxPixels to read it`);
  }
}

export function checkPixelLimit(size: ImageSize, maxPixels: number): void {
  if (size.width * size.height > maxPixels) throw new PixelLimitError(size, maxPixels);
}
