import * as fs from 'node:fs';

/**
 * What an upload is, told by its first bytes only (never by its name, its declared type or a program's guess):
 * an image for libvips, a video in one of the containers ffmpeg is allowed to open (and which demuxer opens
 * it), a text file that names other files (a playlist, a concat list, a session description), or none of these.
 */
export type Sniffed =
  | { kind: 'image'; format: ImageFormat }
  | { kind: 'video'; demuxer: Demuxer; container: string }
  | { kind: 'reference'; what: string }
  | { kind: 'unknown' };

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'tiff' | 'bmp' | 'heif';

/**
 * The demuxers ffmpeg may use on an upload (`-format_whitelist`), by the names this ffmpeg gives them: real
 * media containers only. Left out on purpose: hls, dash, concat, sdp, rtsp, image2 and every other demuxer
 * that opens files or addresses an upload names.
 */
export const DEMUXERS = ['mov', 'matroska', 'avi', 'mpegts', 'mpeg', 'flv', 'ogg', 'asf', 'gif'] as const;
export type Demuxer = (typeof DEMUXERS)[number];

/** Bytes read to sniff: enough for three MPEG-TS packets and an ISO file's first box. */
export const SNIFF_BYTES = 1024;

// ISO base media brands that are still images (HEIC, AVIF), not movies.
const IMAGE_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1', 'avif', 'avis']);
// Top-level boxes a QuickTime or MP4 file may start with.
const ISO_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot']);

export function sniffFile(file: string): Sniffed {
  const head = Buffer.alloc(SNIFF_BYTES);
  const fd = fs.openSync(file, 'r');
  try {
    return sniff(head.subarray(0, fs.readSync(fd, head, 0, SNIFF_BYTES, 0)));
  } finally {
    fs.closeSync(fd);
  }
}

export function sniff(head: Buffer): Sniffed {
  const ascii = (from: number, to: number) => head.toString('latin1', from, to);
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return { kind: 'image', format: 'png' };
  if (starts(0xff, 0xd8, 0xff)) return { kind: 'image', format: 'jpeg' };
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return { kind: 'image', format: 'gif' };
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return { kind: 'image', format: 'webp' };
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return { kind: 'image', format: 'tiff' };
  if (ascii(0, 2) === 'BM' && head.length >= 26 && head.readUInt32LE(2) > 26) return { kind: 'image', format: 'bmp' };
  if (ISO_BOXES.has(ascii(4, 8))) {
    if (ascii(4, 8) === 'ftyp' && IMAGE_BRANDS.has(ascii(8, 12))) return { kind: 'image', format: 'heif' };
    return { kind: 'video', demuxer: 'mov', container: 'MP4/QuickTime' };
  }
  if (starts(0x1a, 0x45, 0xdf, 0xa3)) return { kind: 'video', demuxer: 'matroska', container: 'Matroska/WebM' };
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'AVI ') return { kind: 'video', demuxer: 'avi', container: 'AVI' };
  if (isTransportStream(head)) return { kind: 'video', demuxer: 'mpegts', container: 'MPEG-TS' };
  if (starts(0x00, 0x00, 0x01, 0xba)) return { kind: 'video', demuxer: 'mpeg', container: 'MPEG-PS' };
  if (ascii(0, 3) === 'FLV') return { kind: 'video', demuxer: 'flv', container: 'FLV' };
  if (ascii(0, 4) === 'OggS') return { kind: 'video', demuxer: 'ogg', container: 'Ogg' };
  if (starts(0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11)) {
    return { kind: 'video', demuxer: 'asf', container: 'ASF/WMV' };
  }
  const reference = namesOtherFiles(
    head
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .trimStart(),
  );
  return reference ? { kind: 'reference', what: reference } : { kind: 'unknown' };
}

/** MPEG-TS: a sync byte every 188 bytes (192 in Blu-ray's M2TS, after a 4-byte timestamp). */
function isTransportStream(head: Buffer): boolean {
  const every = (offset: number, size: number) =>
    head.length >= offset + 2 * size + 1 && [0, 1, 2].every((k) => head[offset + k * size] === 0x47);
  return every(0, 188) || every(4, 192);
}

/** Text formats that make ffmpeg open other files or addresses. */
function namesOtherFiles(text: string): string | undefined {
  if (/^#EXTM3U/.test(text)) return 'an HLS playlist (#EXTM3U)';
  if (/^ffconcat\b/i.test(text)) return 'an ffconcat list';
  if (/^v=0\s/.test(text)) return 'an SDP session description';
  if (/^(<\?xml[^>]*>\s*)?<MPD\b/.test(text)) return 'a DASH manifest (MPD)';
  if (/^\[playlist\]/i.test(text)) return 'a PLS playlist';
  const start = text.slice(0, 512);
  if (/^file\s+\S/m.test(start) || /^(\/|file:|[a-z]+:\/\/)/im.test(start)) return 'a list of files or addresses';
  return undefined;
}
