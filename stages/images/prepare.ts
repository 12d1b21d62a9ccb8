import sharp from 'sharp';

export interface NormalizeSpec {
  size?: number;
  channels?: 1 | 3;
  format?: 'png' | 'jpeg' | 'webp';
  fit?: 'cover' | 'contain' | 'fill';
}

export interface PreparedImage {
  /** The bytes to store: the original file unless normalising, else the converted image. */
  bytes: Buffer;
  width: number;
  height: number;
  channels: number;
  format: string;
}

export type ImageInput = { file: Buffer } | { pixels: Uint8Array; width: number; height: number; channels: 1 | 3 };

// Many small images are decoded at once (see merge); one libvips thread each avoids oversubscribing cores.
sharp.concurrency(1);
// Cached operations only help when the same image is processed repeatedly; merge never does.
sharp.cache(false);

export const decoderVersion = `sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}`;

/**
 * Decodes an image fully (so a corrupt or truncated file fails here, not in training) and, when asked,
 * converts it to the canonical form. Throws with a short reason on bad input.
 */
export async function prepareImage(input: ImageInput, normalize?: NormalizeSpec): Promise<PreparedImage> {
  // failOn 'error' rejects truncated and corrupt data but tolerates harmless warnings (e.g. extra bytes
  // after a JPEG's end marker), which real datasets are full of.
  const pipeline =
    'file' in input
      ? sharp(input.file, { failOn: 'error' })
      : sharp(input.pixels, { raw: { width: input.width, height: input.height, channels: input.channels } });

  if (!normalize && 'file' in input) {
    const [meta, decoded] = await Promise.all([pipeline.metadata(), pipeline.clone().raw().toBuffer({ resolveWithObject: true })]);
    // Raw decoding converts to sRGB, so the file's own channel count comes from its header.
    return { bytes: input.file, width: decoded.info.width, height: decoded.info.height, channels: meta.channels ?? decoded.info.channels, format: meta.format ?? 'unknown' };
  }

  let converted = pipeline;
  if (normalize?.size) converted = converted.resize(normalize.size, normalize.size, { fit: normalize.fit ?? 'cover' });
  // libvips writes sRGB unless told otherwise: gray output must ask for the b-w colour space explicitly.
  const channels = normalize?.channels ?? ('pixels' in input ? input.channels : undefined);
  if (channels === 1) converted = converted.toColourspace('b-w');
  if (channels === 3) converted = converted.removeAlpha().toColourspace('srgb');
  const format = normalize?.format ?? 'png';
  converted = format === 'jpeg' ? converted.jpeg({ quality: 95 }) : format === 'webp' ? converted.webp({ lossless: true }) : converted.png();
  const { data, info } = await converted.toBuffer({ resolveWithObject: true });
  return { bytes: data, width: info.width, height: info.height, channels: info.channels, format };
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
