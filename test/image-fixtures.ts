import sharp from 'sharp';

/** A small image whose pixels depend on `seed`, so different seeds give different bytes. */
export async function imageBytes(
  seed: number,
  options: { size?: number; channels?: 1 | 3; format?: 'png' | 'jpeg' | 'webp' } = {},
): Promise<Buffer> {
  const size = options.size ?? 16;
  const channels = options.channels ?? 1;
  const pixels = Buffer.alloc(size * size * channels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + seed * 97) % 256;
  const image = sharp(pixels, { raw: { width: size, height: size, channels } });
  const format = options.format ?? 'png';
  return format === 'jpeg'
    ? image.jpeg().toBuffer()
    : format === 'webp'
      ? image.webp().toBuffer()
      : image.png().toBuffer();
}

/** A FER2013 CSV row: the FER2013 id, 2304 gray values derived from `seed`, and a Usage. */
export function fer2013Row(id: number, seed: number, usage = 'Training', pixels = 2304): string {
  return `${id},${Array.from({ length: pixels }, (_, i) => (i * 7 + seed * 13) % 256).join(' ')},${usage}`;
}
