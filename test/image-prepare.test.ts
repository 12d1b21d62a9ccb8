import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeJpeg } from '../datasets/images/codec/jpeg.js';
import { decodePng } from '../datasets/images/codec/png.js';
import { headerSize } from '../datasets/images/header.js';
import { prepareImage } from '../datasets/images/prepare.js';
import { resizeSquare, toChannels, type Raster } from '../datasets/images/raster.js';

/** A smooth, face-sized test picture (gradients and a disc), seeded so each call differs. */
function picture(size: number, channels: 1 | 3, seed: number): Buffer {
  const px = Buffer.alloc(size * size * channels);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inDisc = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2;
      for (let c = 0; c < channels; c++)
        px[(y * size + x) * channels + c] = inDisc ? 200 - seed - 30 * c : (x * 3 + y * 2 + seed * 11 + c * 40) % 256;
    }
  }
  return px;
}

const raw = (px: Buffer, size: number, channels: 1 | 3) => sharp(px, { raw: { width: size, height: size, channels } });
const maxDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('the JavaScript JPEG decoder matches libvips: gray within one level, full-resolution colour within three', async () => {
  const gray = await raw(picture(48, 1, 3), 48, 1)
    .toColourspace('b-w')
    .jpeg({ quality: 90 })
    .toBuffer();
  const ours = decodeJpeg(gray)!;
  assert.equal(ours.channels, 1, 'a gray JPEG decodes to one channel');
  const theirs = await sharp(gray).raw().toBuffer({ resolveWithObject: true });
  assert.ok(maxDiff(ours.data, toChannels({ ...theirs.info, channels: 3, data: theirs.data }, 1).data) <= 1);

  const colour = await raw(picture(48, 3, 3), 48, 3)
    .jpeg({ quality: 90, chromaSubsampling: '4:4:4' })
    .toBuffer();
  const rgb = await sharp(colour).raw().toBuffer();
  assert.ok(
    maxDiff(decodeJpeg(colour)!.data, rgb) <= 3,
    `4:4:4 colour differs by ${maxDiff(decodeJpeg(colour)!.data, rgb)}`,
  );
});

test('with 4:2:0 chroma, only colour edges differ (jpeg-js replicates chroma, libjpeg interpolates): gray stays within a level on average', async () => {
  const jpeg = await raw(picture(48, 3, 3), 48, 3)
    .jpeg({ quality: 90, chromaSubsampling: '4:2:0' })
    .toBuffer();
  const ours = toChannels(decodeJpeg(jpeg)!, 1).data;
  const theirs = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  const reference = toChannels({ ...theirs.info, channels: 3, data: theirs.data }, 1).data;
  const mean = ours.reduce((s, v, i) => s + Math.abs(v - reference[i]!), 0) / ours.length;
  assert.ok(mean < 1, `mean gray difference ${mean.toFixed(2)}`);
});

test('a JPEG the JavaScript decoder does not handle (CMYK) goes to libvips and still decodes', async () => {
  const cmyk = await raw(picture(24, 3, 1), 24, 3)
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
  assert.equal(decodeJpeg(cmyk), undefined);
  const prepared = await prepareImage({ file: cmyk }, { size: 24, channels: 3 });
  assert.deepEqual([prepared.width, prepared.height, prepared.channels, prepared.format], [24, 24, 3, 'png']);
});

test('the canonical form depends on the pixels, not the container: PNG, lossless WebP and raw pixels agree', async () => {
  const px = picture(64, 3, 9);
  const png = await raw(px, 64, 3).png().toBuffer();
  const webp = await raw(px, 64, 3).webp({ lossless: true }).toBuffer();
  const spec = { size: 32, channels: 1 as const };
  const [fromPng, fromWebp, fromPixels] = await Promise.all([
    prepareImage({ file: png }, spec),
    prepareImage({ file: webp }, spec),
    prepareImage({ pixels: px, width: 64, height: 64, channels: 3 }, spec),
  ]);
  assert.ok(fromPng.bytes.equals(fromWebp.bytes), 'PNG (JavaScript decoder) and WebP (libvips) give the same blob');
  assert.ok(fromPng.bytes.equals(fromPixels.bytes), 'and so do raw pixels');
});

test('truncated and corrupt files are rejected with a reason, by every decoder', async () => {
  const jpeg = await raw(picture(48, 1, 2), 48, 1)
    .jpeg()
    .toBuffer();
  const png = await raw(picture(48, 3, 2), 48, 3)
    .png()
    .toBuffer();
  const webp = await raw(picture(48, 3, 2), 48, 3)
    .webp()
    .toBuffer();
  for (const [name, bytes] of [
    ['jpeg', jpeg],
    ['png', png],
    ['webp', webp],
  ] as const) {
    await assert.rejects(
      prepareImage({ file: bytes.subarray(0, Math.floor(bytes.length * 0.6)) }),
      /./,
      `truncated ${name}`,
    );
  }
  await assert.rejects(prepareImage({ file: Buffer.from('not an image at all') }));
});

test('a file kept as is keeps its bytes and reports its own channels', async () => {
  const gray = await raw(picture(40, 1, 4), 40, 1)
    .toColourspace('b-w')
    .png()
    .toBuffer();
  const prepared = await prepareImage({ file: gray });
  assert.ok(prepared.bytes.equals(gray));
  assert.deepEqual([prepared.width, prepared.height, prepared.channels, prepared.format], [40, 40, 1, 'png']);
});

test('gray is Rec. 601 luma: pure red, green and blue give 76, 150 and 29', () => {
  const rgb: Raster = { width: 3, height: 1, channels: 3, data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]) };
  assert.deepEqual([...toChannels(rgb, 1).data], [76, 150, 29]);
});

test('downscaling averages the area under each output pixel; cover takes the centre square', () => {
  const four: Raster = {
    width: 4,
    height: 4,
    channels: 1,
    data: Uint8Array.from([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150]),
  };
  assert.deepEqual([...resizeSquare(four, 2, 'cover').data], [25, 45, 105, 125]);
  // 3 → 2: each output pixel covers one and a half source pixels.
  const three: Raster = { width: 3, height: 1, channels: 1, data: Uint8Array.from([0, 90, 180]) };
  assert.deepEqual(
    [
      ...resizeSquare({ ...three, height: 3, data: Uint8Array.from([0, 90, 180, 0, 90, 180, 0, 90, 180]) }, 2, 'fill')
        .data,
    ],
    [30, 150, 30, 150],
  );
  const wide: Raster = {
    width: 6,
    height: 2,
    channels: 1,
    data: Uint8Array.from([9, 9, 1, 2, 9, 9, 9, 9, 3, 4, 9, 9]),
  };
  assert.deepEqual([...resizeSquare(wide, 2, 'cover').data], [1, 2, 3, 4]);
  const letterbox = resizeSquare(wide, 6, 'contain');
  assert.deepEqual([...letterbox.data.subarray(0, 6)], [0, 0, 0, 0, 0, 0], 'contain pads with black');
});

test('upscaling a flat image keeps it flat, and our resize stays close to libvips on a real-looking picture', async () => {
  const flat: Raster = { width: 3, height: 3, channels: 1, data: new Uint8Array(9).fill(77) };
  assert.ok(resizeSquare(flat, 8, 'fill').data.every((v) => v === 77));
  const px = picture(224, 3, 5);
  const png = await raw(px, 224, 3).png().toBuffer();
  const ours = decodePng((await prepareImage({ file: png }, { size: 48, channels: 3 })).bytes)!;
  const theirs = await raw(px, 224, 3).resize(48, 48, { kernel: 'cubic' }).raw().toBuffer();
  const meanDiff = ours.data.reduce((s, v, i) => s + Math.abs(v - theirs[i]!), 0) / theirs.length;
  assert.ok(meanDiff < 4, `mean difference from libvips' resize: ${meanDiff.toFixed(2)} gray levels`);
});

test('the header gives the size before decoding: PNG, baseline and progressive JPEG; other formats ask libvips', async () => {
  const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: 'red' } })
    .png()
    .toBuffer();
  const jpeg = await sharp(png).jpeg().toBuffer();
  const progressive = await sharp(png).jpeg({ progressive: true }).toBuffer();
  assert.deepEqual(
    [headerSize(png), headerSize(jpeg), headerSize(progressive)],
    Array(3).fill({ width: 300, height: 200 }),
  );
  const webp = await sharp(png).webp().toBuffer();
  assert.equal(headerSize(webp), undefined);
  await assert.rejects(prepareImage({ file: webp }, undefined, 300 * 200 - 1), /over the pixel limit: 300×200/);
  assert.equal((await prepareImage({ file: webp }, undefined, 300 * 200)).width, 300);
});
