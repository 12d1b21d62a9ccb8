// Worker thread for merge: decodes, normalises and stores a batch of images per request (see prepare.ts).
import { readFileSync } from 'node:fs';
import { putBlob, type BlobSink } from '../../cache/blob-sink.js';
import type { Hash } from '../../cache/hash.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { PixelLimitError, type ImageSize } from './header.js';
import {
  parsePixelText,
  prepareImage,
  sourceSize,
  type ImageInput,
  type NormalizeSpec,
  type PreparedImage,
} from './prepare.js';

export type PrepareItem =
  /** A file on disk, read here so the main thread only keeps the books. */
  | { path: string }
  /** Raw pixels, or FER2013's space-separated text of them (parsed here, off the main thread). */
  | { pixels: Uint8Array | string; width: number; height: number; channels: 1 | 3 };

/**
 * Images go in batches: one message and one wake-up per batch rather than per 48×48 image, whose decoding
 * costs about as much as a message round trip. The worker stores each image through the stage's blob sink.
 */
export interface PrepareRequest {
  sink: BlobSink;
  normalize?: NormalizeSpec;
  /** Images whose header declares more pixels are refused before decoding. */
  maxPixels: number;
  items: PrepareItem[];
}

/**
 * A prepared image as the worker hands it back: stored, so its bytes are replaced by their blob. Its `source`
 * size is remembered with it, so a reusing run checks it against its own pixel limit.
 */
export interface PreparedItem extends Omit<PreparedImage, 'bytes'> {
  /** The stored image: the file itself, or the converted image. */
  blob: Hash;
}

/**
 * `source` is the input's size where its header could be read (null where not); `overLimit` marks a refusal
 * by the pixel limit, which depends on the limit and so is never remembered.
 */
export type PrepareOutcome = PreparedItem | { error: string; source?: ImageSize | null; overLimit?: true };

async function prepareItem(
  item: PrepareItem,
  sink: BlobSink,
  normalize: NormalizeSpec | undefined,
  maxPixels: number,
): Promise<PrepareOutcome> {
  let file: Buffer | undefined;
  if ('path' in item) {
    try {
      file = readFileSync(item.path); // sync: this thread has nothing else to do, and it spares libuv hand-offs
    } catch (error) {
      // Permissions, or a link that changed since the folder was listed.
      return { error: `cannot read: ${(error as Error).message.split('\n')[0]}`, source: null };
    }
  }
  let input: ImageInput | undefined;
  try {
    input =
      'path' in item
        ? { file: file! }
        : {
            pixels:
              typeof item.pixels === 'string'
                ? parsePixelText(item.pixels, item.width * item.height * item.channels)
                : item.pixels,
            width: item.width,
            height: item.height,
            channels: item.channels,
          };
    const prepared = await prepareImage(input, normalize, maxPixels);
    const { width, height, channels, format, source } = prepared;
    return { blob: putBlob(sink, prepared.bytes), width, height, channels, format, source };
  } catch (error) {
    if (error instanceof PixelLimitError) return { error: error.message, overLimit: true };
    const source = (input && (await sourceSize(input))) ?? null;
    return { error: `cannot decode: ${(error as Error).message.split('\n')[0]}`, source };
  }
}

serveRequests<PrepareRequest, PrepareOutcome[]>(async ({ sink, normalize, maxPixels, items }) => {
  const outcomes: PrepareOutcome[] = [];
  for (const item of items) outcomes.push(await prepareItem(item, sink, normalize, maxPixels));
  return { result: outcomes };
});
