import sharp from 'sharp';
import { decodeJpeg } from './codec/jpeg.js';
import { decodePng, encodePng } from './codec/png.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, headerSize, type ImageSize } from './header.js';
import { resizeSquare, toChannels, type Fit, type Raster } from './raster.js';

export interface NormalizeSpec {
  size?: number;
  channels?: 1 | 3;
  format?: 'png' | 'jpeg' | 'webp';
  fit?: Fit;
}

export interface PreparedImage {
  /** The bytes to store: the original file unless normalising, else the converted image. */
  bytes: Buffer;
  width: number;
  height: number;
  /** The stored image's channel count (a file kept as is: its own, alpha included). */
  channels: number;
  format: string;
  /** The input's own size, as its header declared it (checked against the pixel limit). */
  source: ImageSize;
}

export type ImageInput = { file: Uint8Array } | { pixels: Uint8Array; width: number; height: number; channels: 1 | 3 };

// Small images are decoded many at once (see merge's worker pool); one libvips thread each avoids
// oversubscribing the cores, and its operation cache only helps when an image is processed twice.
sharp.concurrency(1);
sharp.cache(false);

/**
 * Part of every decode's memo key (prepare-all.ts): PNG and baseline/progressive JPEG are decoded in JavaScript
 * (exactly the same pixels on every machine), anything else by libvips; resizing, gray conversion and PNG encoding
 * are ours.
 */
export const decoderVersion = `fer-dag codecs 1 (jpeg-js 0.4) / sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}`;

interface Decoded {
  raster: Raster;
  format: string;
  /** The file's own channel count (libvips expands gray to sRGB when decoding). */
  channels: number;
}

const isPng = (b: Uint8Array) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

async function decodeWithSharp(file: Uint8Array, maxPixels: number | undefined): Promise<Decoded> {
  // failOn 'error' rejects truncated and corrupt data but tolerates harmless warnings (e.g. extra bytes
  // after a JPEG's end marker), which real datasets are full of. The pixel limit is checked from the header
  // before this; libvips checks it again for the formats whose header it alone reads.
  const image = sharp(file, { failOn: 'error', limitInputPixels: maxPixels ?? true });
  const [meta, { data, info }] = await Promise.all([
    image.metadata(),
    image.clone().raw().toBuffer({ resolveWithObject: true }),
  ]);
  const fileChannels = meta.channels ?? info.channels;
  let raster: Raster = { width: info.width, height: info.height, channels: info.channels as Raster['channels'], data };
  if (fileChannels <= 2 && info.channels >= 3) raster = toChannels(raster, 1); // gray stays gray
  return { raster, format: meta.format ?? 'unknown', channels: fileChannels };
}

/**
 * The JavaScript decoders handle the formats FER datasets ship (8-bit PNG, baseline JPEG) at a fraction of a
 * libvips pipeline's per-image cost; anything they decline or reject goes to libvips, which has the last word
 * on whether a file is corrupt.
 */
async function decodeFile(file: Uint8Array, maxPixels?: number): Promise<Decoded> {
  const format = isPng(file) ? 'png' : isJpeg(file) ? 'jpeg' : undefined;
  try {
    const raster = format === 'png' ? decodePng(file) : format === 'jpeg' ? decodeJpeg(file) : undefined;
    if (raster) return { raster, format: format!, channels: raster.channels };
  } catch {
    // fall through: libvips decides, and names the problem if the file really is broken
  }
  return decodeWithSharp(file, maxPixels);
}

/** Decodes a stored image (PNG, JPEG, or whatever libvips reads) to 8-bit pixels; throws on a corrupt file. */
export async function decodeImage(file: Uint8Array): Promise<Raster> {
  return (await decodeFile(file)).raster;
}

async function encode(raster: Raster, format: NonNullable<NormalizeSpec['format']>): Promise<Buffer> {
  if (format === 'png') return encodePng(raster);
  const image = sharp(raster.data, { raw: { width: raster.width, height: raster.height, channels: raster.channels } });
  const coloured = raster.channels === 1 ? image.toColourspace('b-w') : image;
  return (format === 'jpeg' ? coloured.jpeg({ quality: 95 }) : coloured.webp({ lossless: true })).toBuffer();
}

/** The input's size from its header alone (libvips reads those of formats ours do not); undefined if unreadable. */
export async function sourceSize(input: ImageInput): Promise<ImageSize | undefined> {
  if (!('file' in input)) return { width: input.width, height: input.height };
  const known = headerSize(input.file);
  if (known) return known;
  try {
    const { width, height } = await sharp(input.file, { limitInputPixels: false }).metadata();
    return width && height ? { width, height } : undefined;
  } catch {
    return undefined; // not an image libvips knows: decoding names the problem
  }
}

/**
 * Decodes an image fully (so a corrupt or truncated file fails here, not in training) and, when asked,
 * converts it to the canonical form. A file kept as is keeps its bytes; pixels (FER2013's CSV) become a PNG.
 * An image whose header declares more than `maxPixels` is refused before decoding (PixelLimitError).
 * Throws with a short reason on bad input.
 */
export async function prepareImage(
  input: ImageInput,
  normalize?: NormalizeSpec,
  maxPixels = DEFAULT_MAX_PIXELS,
): Promise<PreparedImage> {
  const declared = await sourceSize(input);
  if (declared) checkPixelLimit(declared, maxPixels);
  const decoded: Decoded =
    'file' in input
      ? await decodeFile(input.file, maxPixels)
      : {
          raster: { width: input.width, height: input.height, channels: input.channels, data: input.pixels },
          format: 'raw',
          channels: input.channels,
        };
  const source = { width: decoded.raster.width, height: decoded.raster.height };
  if (!normalize && 'file' in input) {
    const { width, height } = decoded.raster;
    const bytes = Buffer.from(input.file.buffer, input.file.byteOffset, input.file.byteLength);
    return { bytes, width, height, channels: decoded.channels, format: decoded.format, source };
  }
  const channels = normalize?.channels ?? (decoded.raster.channels >= 3 ? 3 : 1);
  let raster = toChannels(decoded.raster, channels);
  if (normalize?.size) raster = resizeSquare(raster, normalize.size, normalize.fit ?? 'cover');
  const format = normalize?.format ?? 'png';
  return { bytes: await encode(raster, format), width: raster.width, height: raster.height, channels, format, source };
}

/** FER2013 pixels: space-separated gray values → bytes; throws on a value outside 0–255. */
export function parsePixelText(text: string, expected: number): Uint8Array {
  const values = text.trim().split(/\s+/);
  if (values.length !== expected) throw new Error(`${values.length} pixels, expected ${expected}`);
  const pixels = new Uint8Array(expected);
  for (let i = 0; i < expected; i++) {
    const v = Number(values[i]);
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`pixel ${i + 1} is "${values[i]}", expected 0–255`);
    pixels[i] = v;
  }
  return pixels;
}
