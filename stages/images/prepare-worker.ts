// Worker thread for merge: decodes, normalises and stores a batch of images per request (see prepare.ts).
import { readFileSync } from 'node:fs';
import { putBlob, type BlobSink } from '../../cache/blob-sink.js';
import type { Hash } from '../../cache/hash.js';
import { serveRequests } from '../parallel/serve.js';
import { parsePixelText, prepareImage, type NormalizeSpec } from './prepare.js';

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
  items: PrepareItem[];
}

export interface PreparedItem {
  /** The stored image: the file itself, or the converted image. */
  blob: Hash;
  width: number;
  height: number;
  channels: number;
  format: string;
}

export type PrepareOutcome = PreparedItem | { error: string };

async function prepareItem(item: PrepareItem, sink: BlobSink, normalize: NormalizeSpec | undefined): Promise<PrepareOutcome> {
  try {
    const input = 'path' in item
      ? { file: readFileSync(item.path) } // sync: this thread has nothing else to do, and it spares libuv hand-offs
      : {
        pixels: typeof item.pixels === 'string' ? parsePixelText(item.pixels, item.width * item.height * item.channels) : item.pixels,
        width: item.width, height: item.height, channels: item.channels,
      };
    const prepared = await prepareImage(input, normalize);
    const { width, height, channels, format } = prepared;
    return { blob: putBlob(sink, prepared.bytes), width, height, channels, format };
  } catch (error) {
    return { error: `cannot decode: ${(error as Error).message.split('\n')[0]}` };
  }
}

serveRequests<PrepareRequest, PrepareOutcome[]>(async ({ sink, normalize, items }) => {
  const outcomes: PrepareOutcome[] = [];
  for (const item of items) outcomes.push(await prepareItem(item, sink, normalize));
  return { result: outcomes };
});
