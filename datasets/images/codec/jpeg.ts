import jpeg from 'jpeg-js';
import { jpegFrameHeader } from '../header.js';
import type { Raster } from './png.js';

/** Frame markers of the JPEG processes jpeg-js decodes: baseline, extended and progressive Huffman. */
const SUPPORTED_FRAMES = new Set([0xc0, 0xc1, 0xc2]);

/**
 * The frame header's component count, or undefined when the file is not one jpeg-js handles exactly
 * (arithmetic coding, lossless, CMYK/YCCK): those go to libvips instead.
 */
function frameComponents(bytes: Uint8Array): number | undefined {
  const frame = jpegFrameHeader(bytes);
  if (!frame || !SUPPORTED_FRAMES.has(frame.marker) || frame.offset + 10 > bytes.length) return undefined;
  const components = bytes[frame.offset + 9]!;
  return components === 1 || components === 3 ? components : undefined;
}

/**
 * Decodes a JPEG in JavaScript: for the 48×48 crops FER datasets are made of, jpeg-js costs a fraction of a
 * libvips pipeline's fixed setup, and its output is the same on every CPU (no SIMD-dependent rounding), so a
 * dataset hashes alike on every machine. Returns undefined for a JPEG it does not handle; throws on a
 * truncated or corrupt file.
 */
export function decodeJpeg(bytes: Uint8Array): Raster | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new Error('not a JPEG (no start-of-image marker)');
  const components = frameComponents(bytes);
  if (components === undefined) return undefined;
  const decoded = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    tolerantDecoding: false,
    maxResolutionInMP: 200,
    maxMemoryUsageInMB: 2048,
  });
  if (components === 3) return { width: decoded.width, height: decoded.height, channels: 3, data: decoded.data };
  // jpeg-js always hands back RGB; a one-component file is gray, so keep one of the three equal channels.
  const gray = new Uint8Array(decoded.width * decoded.height);
  for (let i = 0, j = 0; i < gray.length; i++, j += 3) gray[i] = decoded.data[j]!;
  return { width: decoded.width, height: decoded.height, channels: 1, data: gray };
}
