import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { seededRandom } from '../lib/random.js';
import { decodePng, encodePng, type Raster } from '../datasets/images/codec/png.js';

/**
 * Rows alternate between noise, horizontal ramps, copies of the row above and smooth 2-D fields, so that
 * adaptive filtering picks every filter type somewhere (asserted by `filterTypes`).
 */
function makeRaster(seed: number, width: number, height: number, channels: Raster['channels']): Raster {
  const rand = seededRandom(seed, 'png-codec');
  const stride = width * channels;
  const data = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const kind = Math.floor(rand() * 4);
    for (let i = 0; i < stride; i++) {
      const x = Math.floor(i / channels),
        c = i % channels;
      const above = y > 0 ? data[(y - 1) * stride + i]! : 0;
      data[y * stride + i] =
        kind === 0
          ? rand() * 256
          : kind === 1
            ? (x * (3 + c) + y) & 255
            : kind === 2
              ? (above + (rand() < 0.1 ? 1 : 0)) & 255
              : (x * x + y * y * (c + 1) + (rand() < 0.3 ? 2 : 0)) >> 2;
    }
  }
  return { width, height, channels, data };
}

const rawInput = (r: Raster) => sharp(r.data, { raw: { width: r.width, height: r.height, channels: r.channels } });

/** sharp's own decode, reduced to `channels` where sharp widened gray to sRGB (G→GGG, GA→GGGA). */
async function sharpPixels(png: Buffer, channels: number): Promise<Uint8Array> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  if (info.channels === channels) return new Uint8Array(data);
  const n = info.width * info.height,
    out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < channels; c++)
      out[p * channels + c] = data[p * info.channels + (c === channels - 1 && channels === 2 ? 3 : 0)]!;
  }
  return out;
}

interface Chunk {
  type: string;
  start: number;
  end: number;
}
function chunks(png: Uint8Array): Chunk[] {
  const out: Chunk[] = [];
  for (let o = 8; o < png.length;) {
    const len = Buffer.from(png.buffer, png.byteOffset, png.length).readUInt32BE(o);
    out.push({ type: Buffer.from(png.subarray(o + 4, o + 8)).toString('latin1'), start: o, end: o + 12 + len });
    o += 12 + len;
  }
  return out;
}

function ihdr(png: Uint8Array): { depth: number; colourType: number } {
  return { depth: png[24]!, colourType: png[25]! };
}

function filterTypes(png: Uint8Array, stride: number): Set<number> {
  const idat = Buffer.concat(
    chunks(png)
      .filter((c) => c.type === 'IDAT')
      .map((c) => png.subarray(c.start + 8, c.end - 4)),
  );
  const raw = zlib.inflateSync(idat);
  const types = new Set<number>();
  for (let o = 0; o < raw.length; o += stride + 1) types.add(raw[o]!);
  return types;
}

/** Builds a PNG by hand, for forms sharp cannot write (low-depth gray) or must not write (bad filter bytes). */
function handMadePng(width: number, height: number, depth: number, colourType: number, scanlines: Uint8Array): Buffer {
  const chunk = (type: string, body: Uint8Array) => {
    const head = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const out = Buffer.alloc(body.length + 12);
    out.writeUInt32BE(body.length, 0);
    out.set(head, 4);
    out.writeUInt32BE(zlib.crc32(head), 8 + body.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = depth;
  header[9] = colourType;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(scanlines)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

test('decodePng matches sharp for 8-bit gray, gray+alpha, RGB and RGBA written with all five filter types', async () => {
  for (const channels of [1, 2, 3, 4] as const) {
    // Seeds whose rows make libpng use all five filters (the test checks that it did).
    const r = makeRaster(channels * 17, 61, 47, channels);
    const png = await rawInput(r)
      .toColourspace(channels <= 2 ? 'b-w' : 'srgb')
      .png({ compressionLevel: 9, adaptiveFiltering: true })
      .toBuffer();
    assert.deepEqual(ihdr(png), { depth: 8, colourType: [0, 4, 2, 6][channels - 1] });
    assert.deepEqual([...filterTypes(png, 61 * channels)].sort(), [0, 1, 2, 3, 4], `channels ${channels}`);
    const decoded = decodePng(png);
    assert.ok(decoded);
    assert.deepEqual({ ...decoded, data: undefined }, { width: 61, height: 47, channels, data: undefined });
    assert.deepEqual(decoded.data, await sharpPixels(png, channels), `channels ${channels}`);
    assert.deepEqual(decoded.data, r.data);
  }
});

test('decodePng expands 8/4/2/1-bit palettes to RGB exactly as sharp does', async () => {
  for (const [colours, depth] of [
    [256, 8],
    [16, 4],
    [4, 2],
    [2, 1],
  ] as const) {
    const png = await rawInput(makeRaster(colours, 37, 29, 3))
      .png({ palette: true, colours, compressionLevel: 9, adaptiveFiltering: true })
      .toBuffer();
    assert.deepEqual(ihdr(png), { depth, colourType: 3 });
    const decoded = decodePng(png);
    assert.equal(decoded?.channels, 3);
    assert.deepEqual(decoded.data, await sharpPixels(png, 3), `${colours} colours`);
  }
});

test('decodePng turns a palette with tRNS into RGBA matching sharp', async () => {
  const png = await rawInput(makeRaster(5, 33, 21, 4))
    .png({ palette: true })
    .toBuffer();
  assert.ok(chunks(png).some((c) => c.type === 'tRNS'));
  const decoded = decodePng(png);
  assert.equal(decoded?.channels, 4);
  assert.deepEqual(decoded.data, await sharpPixels(png, 4));
});

test('decodePng scales 1/2/4-bit gray to 0..255 like sharp', async () => {
  const width = 13,
    height = 5,
    rand = seededRandom(99, 'png-codec');
  for (const depth of [1, 2, 4]) {
    const max = (1 << depth) - 1,
      stride = Math.ceil((width * depth) / 8);
    const levels = Array.from({ length: width * height }, () => Math.floor(rand() * (max + 1)));
    const scanlines = new Uint8Array((stride + 1) * height);
    levels.forEach((v, p) => {
      const x = p % width,
        y = Math.floor(p / width),
        bit = x * depth;
      scanlines[y * (stride + 1) + 1 + (bit >> 3)]! |= v << (8 - depth - (bit & 7));
    });
    const png = handMadePng(width, height, depth, 0, scanlines);
    const decoded = decodePng(png);
    assert.equal(decoded?.channels, 1);
    assert.deepEqual(
      [...decoded.data],
      levels.map((v) => (v * 255) / max),
      `depth ${depth}`,
    );
    assert.deepEqual(decoded.data, await sharpPixels(png, 1), `depth ${depth}`);
  }
});

test('encodePng output decodes in sharp to the input pixels for every channel count', async () => {
  for (const channels of [1, 2, 3, 4] as const) {
    const r = makeRaster(100 + channels, 48, 40, channels);
    const png = encodePng(r);
    assert.deepEqual(ihdr(png), { depth: 8, colourType: [0, 4, 2, 6][channels - 1] });
    assert.deepEqual(await sharpPixels(png, channels), r.data, `channels ${channels}`);
    assert.deepEqual(decodePng(png), r);
  }
});

test('encodePng is byte-deterministic and honours the zlib level', () => {
  const r = makeRaster(7, 48, 48, 1);
  assert.deepEqual(encodePng(r), encodePng({ ...r, data: r.data.slice() }));
  assert.deepEqual(encodePng(r, 9), encodePng(r, 9));
  assert.ok(encodePng(r, 0).length > encodePng(r, 9).length);
});

test('encodePng rejects data whose length does not match the dimensions', () => {
  assert.throws(() => encodePng({ width: 4, height: 4, channels: 3, data: new Uint8Array(47) }), /expected 48/);
});

test('decodePng throws on a PNG cut in the middle of IDAT', async () => {
  const png = await rawInput(makeRaster(1, 40, 40, 3))
    .png()
    .toBuffer();
  const idat = chunks(png).find((c) => c.type === 'IDAT')!;
  assert.throws(() => decodePng(png.subarray(0, (idat.start + idat.end) >> 1)), /truncated IDAT/);
});

test('decodePng throws on a corrupted IDAT byte because the CRC no longer matches', async () => {
  const png = Buffer.from(
    await rawInput(makeRaster(2, 40, 40, 3))
      .png()
      .toBuffer(),
  );
  const idat = chunks(png).find((c) => c.type === 'IDAT')!;
  png[idat.start + 20] ^= 0x40;
  assert.throws(() => decodePng(png), /bad CRC in IDAT/);
});

test('decodePng throws on a missing IEND, a bad signature and an unknown filter type', () => {
  const png = encodePng(makeRaster(3, 8, 8, 3));
  assert.throws(() => decodePng(png.subarray(0, png.length - 12)), /missing IEND/);
  assert.throws(() => decodePng(Buffer.concat([Buffer.from('GIF89a..'), png.subarray(8)])), /bad signature/);
  const scanlines = new Uint8Array(2 * 4);
  scanlines[4] = 5;
  assert.throws(() => decodePng(handMadePng(3, 2, 8, 0, scanlines)), /bad filter type 5 on row 1/);
});

test('decodePng throws when IDAT inflates to the wrong size', () => {
  assert.throws(() => decodePng(handMadePng(3, 2, 8, 0, new Uint8Array(7))), /expected 8/);
});

test('decodePng returns undefined for 16-bit and interlaced PNGs so the caller can fall back', async () => {
  const rgb = rawInput(makeRaster(4, 20, 20, 3));
  const sixteen = await rgb.clone().toColourspace('rgb16').png().toBuffer();
  assert.equal(ihdr(sixteen).depth, 16);
  assert.equal(decodePng(sixteen), undefined);
  const interlaced = await rgb.clone().png({ progressive: true }).toBuffer();
  assert.equal(interlaced[28], 1);
  assert.equal(decodePng(interlaced), undefined);
});
