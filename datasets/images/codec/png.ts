import * as zlib from 'node:zlib';

/** 8-bit samples, row-major, channels interleaved. */
export interface Raster {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}

const SIGNATURE = Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10);
/** Samples per pixel by colour type; undefined marks types the PNG spec does not define. */
const SAMPLES: Record<number, number | undefined> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ALLOWED_DEPTHS: Record<number, readonly number[] | undefined> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const COLOUR_TYPE_FOR_CHANNELS = [0, 0, 4, 2, 6] as const;
// Bounds the allocation driven by a hostile IHDR before any pixel data is seen.
const MAX_DECODED_BYTES = 1 << 30;

// zlib.crc32 only exists from Node 20.15; the table keeps older 20.x (package engines: >=20.5) working.
const nativeCrc = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
let crcTable: Uint32Array | undefined;
function crc32(data: Uint8Array): number {
  if (nativeCrc) return nativeCrc(data);
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const typeName = (b: Uint8Array, o: number): string => String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);

/**
 * Reverses the scanline filters straight into `out`, so the filter bytes never need a separate copy.
 * Row 0 reads a zero row as its predecessor, which is what the spec defines. Sub/Average/Paeth walk one channel
 * at a time and carry the left neighbour in a local: reading it back from `out` right after writing it serialises
 * every byte on a store-to-load round trip, which measured about 25% slower.
 */
function unfilter(src: Uint8Array, out: Uint8Array, height: number, stride: number, bpp: number): void {
  const zero = new Uint8Array(stride);
  for (let y = 0, s = 0, o = 0; y < height; y++, s += stride + 1, o += stride) {
    const ft = src[s]!;
    const prev = y === 0 ? zero : out;
    const p = y === 0 ? 0 : o - stride;
    const d = s + 1;
    if (ft === 0) out.set(src.subarray(d, d + stride), o);
    else if (ft === 2) for (let i = 0; i < stride; i++) out[o + i] = src[d + i]! + prev[p + i]!;
    else if (ft === 1) {
      for (let ch = 0; ch < bpp; ch++) {
        for (let i = ch, a = 0; i < stride; i += bpp) out[o + i] = a = (src[d + i]! + a) & 255;
      }
    } else if (ft === 3) {
      for (let ch = 0; ch < bpp; ch++) {
        for (let i = ch, a = 0; i < stride; i += bpp) out[o + i] = a = (src[d + i]! + ((a + prev[p + i]!) >> 1)) & 255;
      }
    } else if (ft === 4) {
      for (let ch = 0; ch < bpp; ch++) {
        for (let i = ch, a = 0, c = 0; i < stride; i += bpp) {
          const b = prev[p + i]!;
          const pa = Math.abs(b - c),
            pb = Math.abs(a - c),
            pc = Math.abs(a + b - 2 * c);
          out[o + i] = a = (src[d + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 255;
          c = b;
        }
      }
    } else throw new Error(`PNG: bad filter type ${ft} on row ${y}`);
  }
}

/**
 * Decodes an 8-bit (or lower bit depth) PNG. Returns undefined when the file is a PNG this decoder does not handle
 * (16-bit, interlaced, colour-key tRNS on gray/RGB, unknown critical chunks) so the caller can fall back to another
 * decoder. Throws an Error with a short reason for corrupt or truncated data.
 */
export function decodePng(bytes: Uint8Array): Raster | undefined {
  if (bytes.length < 8 || SIGNATURE.some((v, i) => bytes[i] !== v)) throw new Error('PNG: bad signature');
  let width = 0,
    height = 0,
    depth = 0,
    colourType = -1;
  let palette: Uint8Array | undefined,
    alpha: Uint8Array | undefined,
    sawEnd = false,
    unsupported = false;
  const idat: Uint8Array[] = [];
  for (let o = 8; o < bytes.length && !sawEnd;) {
    if (o + 12 > bytes.length) throw new Error('PNG: truncated chunk header');
    const len = u32(bytes, o);
    const type = typeName(bytes, o + 4);
    if (len > bytes.length - o - 12) throw new Error(`PNG: truncated ${type} chunk`);
    const body = bytes.subarray(o + 8, o + 8 + len);
    const critical = (bytes[o + 4]! & 0x20) === 0;
    // Only chunks that affect pixels are checked; a damaged text chunk should not cost us the image.
    if ((critical || type === 'tRNS') && crc32(bytes.subarray(o + 4, o + 8 + len)) !== u32(bytes, o + 8 + len)) {
      throw new Error(`PNG: bad CRC in ${type}`);
    }
    if (o === 8 && type !== 'IHDR') throw new Error('PNG: first chunk is not IHDR');
    if (type === 'IHDR') {
      if (len !== 13) throw new Error('PNG: bad IHDR length');
      width = u32(body, 0);
      height = u32(body, 4);
      depth = body[8]!;
      colourType = body[9]!;
      if (!width || !height) throw new Error('PNG: zero image dimension');
      if (!ALLOWED_DEPTHS[colourType]?.includes(depth))
        throw new Error(`PNG: bad colour type ${colourType} / depth ${depth}`);
      if (body[10] !== 0 || body[11] !== 0 || body[12]! > 1)
        throw new Error('PNG: bad compression/filter/interlace method');
      if (depth === 16 || body[12] === 1) return undefined;
    } else if (type === 'PLTE') {
      if (len % 3 !== 0 || len === 0 || len > 768) throw new Error('PNG: bad PLTE length');
      palette = body;
    } else if (type === 'tRNS') {
      // Colour-key transparency on gray/RGB would need a synthesized alpha channel; leave that to the fallback.
      if (colourType !== 3) unsupported = true;
      alpha = body;
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') sawEnd = true;
    else if (critical) unsupported = true;
    o += 12 + len;
  }
  if (!sawEnd) throw new Error('PNG: missing IEND');
  if (unsupported) return undefined;
  if (idat.length === 0) throw new Error('PNG: no IDAT');
  if (colourType === 3 && !palette) throw new Error('PNG: palette image without PLTE');

  const samples = SAMPLES[colourType]!;
  const stride = Math.ceil((width * samples * depth) / 8);
  const expected = (stride + 1) * height;
  if (stride * height > MAX_DECODED_BYTES) throw new Error('PNG: image too large');
  let raw: Buffer;
  try {
    // The cap bounds memory against a zip bomb; one byte of headroom still lets an over-long stream be detected.
    raw = zlib.inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat), { maxOutputLength: expected + 1 });
  } catch (err) {
    throw new Error(`PNG: IDAT does not inflate (${(err as Error).message})`);
  }
  if (raw.length !== expected) throw new Error(`PNG: IDAT inflated to ${raw.length} bytes, expected ${expected}`);
  // A plain Uint8Array view keeps the unfilter loop's element accesses monomorphic.
  const src = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  const rows = new Uint8Array(stride * height);
  unfilter(src, rows, height, stride, Math.max(1, (samples * depth) >> 3));
  if (depth === 8 && colourType !== 3) return { width, height, channels: samples as Raster['channels'], data: rows };

  const perByte = 8 / depth,
    mask = (1 << depth) - 1;
  const sampleAt = (y: number, x: number): number =>
    depth === 8
      ? rows[y * stride + x]!
      : (rows[y * stride + ((x / perByte) | 0)]! >> (8 - depth - (x % perByte) * depth)) & mask;
  if (colourType === 0) {
    const scale = 255 / mask;
    const data = new Uint8Array(width * height);
    for (let y = 0, i = 0; y < height; y++) for (let x = 0; x < width; x++) data[i++] = sampleAt(y, x) * scale;
    return { width, height, channels: 1, data };
  }
  const pal = palette!,
    entries = pal.length / 3,
    channels = alpha ? 4 : 3;
  const data = new Uint8Array(width * height * channels);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = sampleAt(y, x);
      if (k >= entries) throw new Error(`PNG: palette index ${k} out of range`);
      data[i++] = pal[k * 3]!;
      data[i++] = pal[k * 3 + 1]!;
      data[i++] = pal[k * 3 + 2]!;
      if (alpha) data[i++] = k < alpha.length ? alpha[k]! : 255;
    }
  }
  return { width, height, channels, data };
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/**
 * Encodes as an 8-bit PNG with zlib level `level`. Every row uses filter None: the images are small, and skipping
 * the per-row filter search keeps encoding cheap and the output a pure function of (pixels, level).
 */
export function encodePng(raster: Raster, level = 6): Buffer {
  const { width, height, channels, data } = raster;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`PNG: bad dimensions ${width}x${height}`);
  }
  const colourType = COLOUR_TYPE_FOR_CHANNELS[channels];
  if (colourType === undefined || channels < 1) throw new Error(`PNG: unsupported channel count ${channels}`);
  const stride = width * channels;
  if (data.length !== stride * height)
    throw new Error(`PNG: data has ${data.length} bytes, expected ${stride * height}`);
  const filtered = new Uint8Array((stride + 1) * height); // filter bytes stay 0 (None)
  for (let y = 0; y < height; y++) filtered.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colourType;
  return Buffer.concat([
    Buffer.from(SIGNATURE),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(filtered, { level })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
