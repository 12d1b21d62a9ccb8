import { sha256 } from '../../cache/hash.js';
import type { SourceImage } from '../formats/listing.js';
import { mapBounded } from '../../lib/parallel/map-bounded.js';
import type { WorkerPool } from '../../lib/parallel/pool.js';
import type { InputView, StageContext } from '../../engine/stage.js';
import { PixelLimitError } from './header.js';
import type { NormalizeSpec } from './prepare.js';
import type { PrepareItem, PrepareOutcome, PrepareRequest } from './prepare-worker.js';

const DECODE_MEMO = 'merge-decode';
/** Images per worker message: large enough to amortise a round trip, small enough for smooth progress. */
const BATCH = 32;

/**
 * Decodes (and normalises, and stores) every image of one source, in order. Each outcome is memoised by the
 * input's bytes and the normalisation, so a rerun with another source added decodes only the new images.
 * The main thread only consults the memo and keeps the books; workers read, decode and store.
 */
export async function prepareAll(
  ctx: StageContext<{ normalize?: NormalizeSpec }>,
  pool: WorkerPool<PrepareRequest, PrepareOutcome[]>,
  view: InputView,
  images: SourceImage[],
  maxPixels: number,
  onDone: (count: number) => void,
): Promise<{ outcomes: PrepareOutcome[]; decoded: number }> {
  const memo = ctx.memo(DECODE_MEMO);
  const normalize = ctx.params.normalize;
  // Loaded here, not at the top: prepare.js pulls in sharp, which the CLI should not pay for at start.
  const { decoderVersion } = await import('./prepare.js');
  const outcomes = new Array<PrepareOutcome>(images.length);
  const todo: { index: number; key: Record<string, unknown>; item: PrepareItem }[] = [];
  for (const [index, image] of images.entries()) {
    const bytes = image.bytes;
    const pixels = bytes.kind === 'pixels' ? bytes.read() : undefined;
    // A file's hash is already in the input's tree (the stat cache spares re-reading unchanged datasets);
    // readers list only files of that tree.
    const inputHash =
      bytes.kind === 'file'
        ? view.files[bytes.rel]!.hash
        : sha256(typeof pixels === 'string' ? pixels : Buffer.from(pixels!));
    // The decoders are in the key: a codec change or a libvips upgrade decodes again rather than reusing.
    const key = { input: inputHash, normalize: normalize ?? null, decoder: decoderVersion };
    const known = remembered(memo.get<PrepareOutcome>(key), maxPixels);
    // A remembered outcome stands unless its blob has since been collected.
    if (known && ('error' in known || ctx.output.tryReference(known.blob))) {
      outcomes[index] = known;
      continue;
    }
    const item: PrepareItem =
      bytes.kind === 'file'
        ? { path: view.filePath(bytes.rel) }
        : { pixels: pixels!, width: bytes.width, height: bytes.height, channels: bytes.channels };
    todo.push({ index, key, item });
  }
  onDone(images.length - todo.length);

  const batches: (typeof todo)[] = [];
  for (let i = 0; i < todo.length; i += BATCH) batches.push(todo.slice(i, i + BATCH));
  await mapBounded(batches, pool.capacity, async (batch) => {
    const items = batch.map((t) => t.item);
    const request = { sink: ctx.output.blobSink, ...(normalize ? { normalize } : {}), maxPixels, items };
    const results = await pool.run(request);
    for (const [i, { index, key }] of batch.entries()) {
      const outcome = results[i]!;
      if (!('error' in outcome)) ctx.output.reference(outcome.blob);
      // A refusal by the limit is not remembered: it costs a header read, and another limit decides otherwise.
      if (!('overLimit' in outcome)) memo.set(key, outcome, 'error' in outcome ? [] : [outcome.blob]);
      outcomes[index] = outcome;
    }
    onDone(batch.length);
  });
  return { outcomes, decoded: todo.length };
}

/**
 * A remembered outcome as this run's pixel limit sees it: an image over the limit is refused as if its header
 * had just been read. Outcomes remembered before the limit existed carry no size and are decoded again, so a
 * result never depends on what the memo happened to hold.
 */
function remembered(known: PrepareOutcome | undefined, maxPixels: number): PrepareOutcome | undefined {
  if (!known || !('source' in known)) return undefined;
  const size = known.source;
  if (size && size.width * size.height > maxPixels) {
    return { error: new PixelLimitError(size, maxPixels).message, overLimit: true };
  }
  return known;
}
