import sharp from 'sharp';

/**
 * The edits that turn one photograph into a near-duplicate of itself, as they happen to real FER images on
 * their way from the web into a dataset: rescaled, converted to gray, re-encoded as a poor JPEG, cropped a
 * little tighter, shifted, lightened or darkened, mirrored. Each is a pure function of the raster and a
 * few numbers in [0, 1) drawn by the caller, so a planted copy depends only on the seed.
 */
export type Transformation = 'resize' | 'gray' | 'jpeg30' | 'crop' | 'shift' | 'brightness' | 'flip';

/** Every transformation, in the order planted copies cycle through them. */
export const TRANSFORMATIONS: readonly Transformation[] = [
  'resize',
  'gray',
  'jpeg30',
  'crop',
  'shift',
  'brightness',
  'flip',
];

/** A square raster, row-major, `channels` bytes per pixel (the shape `renderFace` returns). */
export interface Raster {
  pixels: Buffer;
  size: number;
  channels: 1 | 3;
}

/** Three numbers in [0, 1) that fix a transformation's free choices (how much, where, which way). */
export type Draws = readonly [number, number, number];

export interface TransformOptions {
  /**
   * For `resize`: keep the side (downscale, then back up; a FER2013 CSV row is always 48×48) instead of
   * storing the copy at the smaller side.
   */
  keepSize?: boolean;
}

function sharpOf(r: Raster): sharp.Sharp {
  return sharp(r.pixels, { raw: { width: r.size, height: r.size, channels: r.channels } });
}

/** Raw pixels out of sharp with the channel count asked for: libvips may hand a gray image back as sRGB. */
async function rawOf(image: sharp.Sharp, channels: 1 | 3): Promise<Raster> {
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== info.height) throw new Error(`expected a square raster, got ${info.width}×${info.height}`);
  let pixels = data;
  if (info.channels !== channels) {
    // Only ever a gray image expanded to three equal channels (or the reverse): keep the first, or repeat it.
    pixels = Buffer.alloc(info.width * info.height * channels);
    for (let i = 0, n = info.width * info.height; i < n; i++)
      for (let c = 0; c < channels; c++) pixels[i * channels + c] = data[i * info.channels + (c % info.channels)]!;
  }
  return { pixels, size: info.width, channels };
}

/** Resamples to another side (libvips' default Lanczos 3, as most tools that rescale web images use). */
export function resize(r: Raster, side: number): Promise<Raster> {
  if (side === r.size) return Promise.resolve({ ...r, pixels: Buffer.from(r.pixels) });
  return rawOf(sharpOf(r).resize(side, side, { fit: 'fill' }), r.channels);
}

/** Colour to gray with the ITU-R BT.601 weights, the ones the face renderer itself uses. */
export function toGray(r: Raster): Raster {
  if (r.channels === 1) return { ...r, pixels: Buffer.from(r.pixels) };
  const pixels = Buffer.alloc(r.size * r.size);
  for (let i = 0; i < pixels.length; i++)
    pixels[i] = Math.round(0.299 * r.pixels[i * 3]! + 0.587 * r.pixels[i * 3 + 1]! + 0.114 * r.pixels[i * 3 + 2]!);
  return { pixels, size: r.size, channels: 1 };
}

/** A JPEG round trip at quality 30 (blocking and ringing), decoded back to raw pixels. */
async function jpeg30(r: Raster): Promise<Raster> {
  const image = r.channels === 1 ? sharpOf(r).toColourspace('b-w') : sharpOf(r);
  const jpeg = await image.jpeg({ quality: 30 }).toBuffer();
  return rawOf(sharp(jpeg), r.channels);
}

/** Keeps a window 5–10 % smaller than the side, somewhere inside the image, and scales it back up. */
async function crop(r: Raster, [amount, x, y]: Draws): Promise<Raster> {
  const side = Math.min(r.size - 1, Math.round(r.size * (1 - (0.05 + 0.05 * amount))));
  const room = r.size - side;
  const left = Math.min(room, Math.floor(x * (room + 1)));
  const top = Math.min(room, Math.floor(y * (room + 1)));
  return rawOf(sharpOf(r).extract({ left, top, width: side, height: side }).resize(r.size, r.size), r.channels);
}

/** Moves the picture 3–6 % of the side in one of eight directions; the uncovered border repeats the edge. */
function shift(r: Raster, [amount, direction]: Draws): Raster {
  const by = Math.max(1, Math.round(r.size * (0.03 + 0.03 * amount)));
  const [dx, dy] = (
    [
      [1, 0],
      [1, 1],
      [0, 1],
      [-1, 1],
      [-1, 0],
      [-1, -1],
      [0, -1],
      [1, -1],
    ] as const
  )[Math.min(7, Math.floor(direction * 8))]!;
  const { size, channels } = r;
  const pixels = Buffer.alloc(r.pixels.length);
  const clampIndex = (v: number) => (v < 0 ? 0 : v >= size ? size - 1 : v);
  for (let y = 0; y < size; y++) {
    const sy = clampIndex(y - dy * by);
    for (let x = 0; x < size; x++) {
      const from = (sy * size + clampIndex(x - dx * by)) * channels;
      r.pixels.copy(pixels, (y * size + x) * channels, from, from + channels);
    }
  }
  return { pixels, size, channels };
}

/** Multiplies every value by 1 ± 10–25 %, clamped to 0–255 (an exposure change, not a contrast one). */
function brightness(r: Raster, [amount, sign]: Draws): Raster {
  const factor = 1 + (sign < 0.5 ? -1 : 1) * (0.1 + 0.15 * amount);
  const pixels = Buffer.alloc(r.pixels.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(255, Math.round(r.pixels[i]! * factor));
  return { ...r, pixels };
}

/** Mirrors left to right. */
function flip(r: Raster): Raster {
  const { size, channels } = r;
  const pixels = Buffer.alloc(r.pixels.length);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const from = (y * size + size - 1 - x) * channels;
      r.pixels.copy(pixels, (y * size + x) * channels, from, from + channels);
    }
  return { pixels, size, channels };
}

/** The side a `resize` copy is stored at when it need not keep its size: 60–85 % of the original's. */
export function resizedSide(size: number, amount: number): number {
  return Math.min(size - 1, Math.max(8, Math.round(size * (0.6 + 0.25 * amount))));
}

/**
 * Applies one transformation. The result never equals the input pixel for pixel: should an edit leave the
 * raster as it was (the flip of a mirror-symmetric image, a brightness change of a black one), one value is
 * nudged, so that merge, which keeps one copy of identical bytes, keeps the planted copy.
 */
export async function transform(
  r: Raster,
  kind: Transformation,
  draws: Draws,
  options: TransformOptions = {},
): Promise<Raster> {
  let out: Raster;
  switch (kind) {
    case 'resize': {
      const smaller = await resize(r, resizedSide(r.size, draws[0]));
      out = options.keepSize ? await resize(smaller, r.size) : smaller;
      break;
    }
    case 'gray':
      if (r.channels === 1) throw new Error('a gray image cannot be converted to gray');
      out = toGray(r);
      break;
    case 'jpeg30':
      out = await jpeg30(r);
      break;
    case 'crop':
      out = await crop(r, draws);
      break;
    case 'shift':
      out = shift(r, draws);
      break;
    case 'brightness':
      out = brightness(r, draws);
      break;
    case 'flip':
      out = flip(r);
      break;
  }
  if (out.size === r.size && out.channels === r.channels && out.pixels.equals(r.pixels))
    out.pixels[0] = out.pixels[0]! ^ 1;
  return out;
}
