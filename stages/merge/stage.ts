import type { Hash } from '../../cache/hash.js';
import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import { FORMAT_READERS } from '../../datasets/formats/index.js';
import type { DatasetOptions, SourceImage, SourceListing } from '../../datasets/formats/listing.js';
import { DEFAULT_MAX_PIXELS } from '../../datasets/images/header.js';
import { prepareAll } from '../../datasets/images/prepare-all.js';
import type { PrepareOutcome, PrepareRequest } from '../../datasets/images/prepare-worker.js';
import { WorkerPool } from '../../lib/parallel/pool.js';
import { writeManifest } from '../../datasets/manifest.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { reportSkipped, type SkippedFrom } from './skipped.js';
import { shuffle, type Rng } from '../../lib/random.js';
import { defineStage, type InputView } from '../../engine/stage.js';
import type { MergeEntry } from '../../schemas/types/merge.js';

/** How a source is read: a dataset says so in the pipeline; a generating stage writes `dataset.json`. */
function sourceFormat(view: InputView): string {
  if (view.kind === 'dataset') return String(view.options?.format);
  if (!view.files['dataset.json'])
    throw new Error(`input "${view.name}" is a stage whose output is not a dataset source (it has no dataset.json)`);
  return String((JSON.parse(view.readText('dataset.json')) as { format?: string }).format);
}

function readAnnotations(view: InputView): Map<string, Record<string, string | number>> {
  const byPath = new Map<string, Record<string, string | number>>();
  if (!view.files['annotations.jsonl']) return byPath;
  for (const line of view.readText('annotations.jsonl').split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as Record<string, string | number>;
    byPath.set(String(entry.origPath), entry);
  }
  return byPath;
}

/** Keeps at most `perClass` images of each class, chosen by a seeded shuffle of the path-sorted list. */
function downsample(images: SourceImage[], perClass: number, random: Rng): SourceImage[] {
  const kept: SourceImage[] = [];
  for (const emotion of EMOTIONS)
    kept.push(
      ...shuffle(
        random,
        images.filter((i) => i.label === emotion),
      ).slice(0, perClass),
    );
  return kept.sort((a, b) => (a.origPath < b.origPath ? -1 : 1));
}

const zeroCounts = (): Record<Emotion, number> =>
  Object.fromEntries(EMOTIONS.map((e) => [e, 0])) as Record<Emotion, number>;

export const mergeStage = defineStage<MergeEntry>({
  type: 'merge',
  version: '3',
  schema: 'merge.schema.json',
  produces: 'manifest',
  accepts: { inputs: ['source'] },

  async run(ctx) {
    const sources = ctx.entry.inputs as string[];
    const listings: {
      name: string;
      view: InputView;
      format: string;
      listing: SourceListing;
      images: SourceImage[];
      before?: Record<Emotion, number>;
    }[] = [];
    for (const name of sources) {
      const view = ctx.input(name);
      const format = sourceFormat(view);
      const reader = FORMAT_READERS[format];
      if (!reader)
        throw new Error(
          `source "${name}" has format "${format}", which merge cannot read (it reads ${Object.keys(FORMAT_READERS).join(', ')})`,
        );
      const options = (view.options ?? {}) as DatasetOptions;
      const listing = await reader(view, options);
      // What the folder walk could not read (a symlink loop, a dangling link) is listed like any bad image.
      for (const entry of view.unreadable ?? []) listing.skipped.push({ origPath: entry.rel, reason: entry.reason });
      let images = [...listing.images].sort((a, b) => (a.origPath < b.origPath ? -1 : 1));
      const cap =
        ctx.params.downsample[name]?.perClass ?? (options.downsample as { perClass?: number } | undefined)?.perClass;
      let before: Record<Emotion, number> | undefined;
      if (cap) {
        before = zeroCounts();
        for (const image of images) before[image.label]++;
        images = downsample(images, cap, ctx.random(`downsample/${name}`));
      }
      if (listing.images.length === 0 && listing.skipped.length === 0)
        listing.skipped.push({ origPath: '.', reason: 'the source holds no images' });
      listings.push({ name, view, format, listing, images, ...(before ? { before } : {}) });
    }

    const total = listings.reduce((n, l) => n + l.images.length, 0);
    let done = 0;
    let decoded = 0;
    const records: ManifestRecord[] = [];
    const skipped: SkippedFrom[] = [];
    const duplicates: {
      blob: Hash;
      kept: Pick<ManifestRecord, 'source' | 'origPath' | 'label'>;
      duplicate: Pick<ManifestRecord, 'source' | 'origPath' | 'label'>;
      labelsDisagree: boolean;
    }[] = [];
    const seen = new Map<Hash, ManifestRecord>();
    const perSource: Record<string, unknown> = {};

    // Loads sharp here, on the main thread, before any worker does (sharp's rule for worker threads), and
    // only when a merge really runs.
    const { decoderVersion } = await import('../../datasets/images/prepare.js');
    const pool = new WorkerPool<PrepareRequest, PrepareOutcome[]>(
      new URL('../../datasets/images/prepare-worker.js', import.meta.url),
    );
    const stop = () => void pool.close();
    ctx.signal.addEventListener('abort', stop);
    try {
      for (const { name, view, format, listing, images, before } of listings) {
        for (const s of listing.skipped) skipped.push({ source: name, ...s });
        const annotations = readAnnotations(view);
        const maxPixels = ctx.params.maxPixels ?? DEFAULT_MAX_PIXELS;
        const onDone = (n: number) => ctx.progress((done += n), total, name);
        const { outcomes: prepared, decoded: decodedHere } = await prepareAll(
          ctx,
          pool,
          view,
          images,
          maxPixels,
          onDone,
        );
        decoded += decodedHere;
        const kept = zeroCounts();
        let duplicateCount = 0;
        for (const [i, image] of images.entries()) {
          const result = prepared[i]!;
          if ('error' in result) {
            skipped.push({ source: name, origPath: image.origPath, reason: result.error });
            continue;
          }
          const note = annotations.get(image.origPath);
          const record: ManifestRecord = {
            blob: result.blob,
            source: name,
            origPath: image.origPath,
            label: image.label,
            sourceLabel: image.sourceLabel,
            width: result.width,
            height: result.height,
            channels: result.channels,
            format: result.format,
            synthetic: false,
            ...(image.split ? { split: image.split } : {}),
            ...(image.fields?.usage ? { usage: image.fields.usage } : {}),
            ...(note?.trueLabel !== undefined ? { trueLabel: String(note.trueLabel) } : {}),
            ...(note
              ? { annotations: pickAttributes(note) }
              : image.annotations
                ? { annotations: pickAttributes(image.annotations) }
                : {}),
          };
          const first = seen.get(record.blob);
          if (first && ctx.params.dedupe) {
            duplicateCount++;
            duplicates.push({
              blob: record.blob,
              kept: { source: first.source, origPath: first.origPath, label: first.label },
              duplicate: { source: name, origPath: image.origPath, label: image.label },
              labelsDisagree: first.label !== image.label,
            });
            continue;
          }
          seen.set(record.blob, record);
          records.push(record);
          kept[image.label]++;
        }
        perSource[name] = {
          format,
          listed: listing.images.length,
          ...(before
            ? {
                downsampled: {
                  perClass:
                    ctx.params.downsample[name]?.perClass ??
                    (view.options?.downsample as { perClass: number }).perClass,
                  before,
                },
              }
            : {}),
          perClass: kept,
          total: Object.values(kept).reduce((a, b) => a + b, 0),
          dropped: listing.dropped,
          skipped: skipped.filter((s) => s.source === name).reduce((n, s) => n + (s.count ?? 1), 0),
          duplicates: duplicateCount,
        };
      }
    } finally {
      ctx.signal.removeEventListener('abort', stop);
      await pool.close();
    }

    const skippedCount = skipped.reduce((n, s) => n + (s.count ?? 1), 0);
    // Every image that was tried, or listed and refused: the base of the skipped share.
    const listedSkips = listings.reduce((n, l) => n + l.listing.skipped.reduce((m, s) => m + (s.count ?? 1), 0), 0);
    const considered = total + listedSkips;
    const merged = zeroCounts();
    for (const r of records) merged[r.label]++;
    writeManifest(ctx.output, records);
    const conflicts = duplicates.filter((d) => d.labelsDisagree).length;
    ctx.output.writeJson('summary.json', {
      classes: EMOTIONS,
      sources: perSource,
      merged: { perClass: merged, total: records.length },
      skipped,
      duplicates,
      labelConflicts: conflicts,
      decoder: decoderVersion,
    });
    // decoded + fromMemo = every listed image: adding a source should decode only that source's images.
    ctx.output.setMetrics({
      images: records.length,
      decoded,
      fromMemo: total - decoded,
      skipped: skippedCount,
      duplicates: duplicates.length,
      labelConflicts: conflicts,
    });
    ctx.log(`decoded ${decoded} image${decoded === 1 ? '' : 's'}, ${total - decoded} remembered from earlier runs`);
    // Throws when nothing was kept: an empty dataset is a misread source, never a success.
    reportSkipped(ctx, skipped, skippedCount, considered, records.length);
    const dropped = listings.flatMap((l) => Object.entries(l.listing.dropped).map(([c, n]) => `${n} ${c} (${l.name})`));
    if (dropped.length) ctx.log(`left out non-canonical classes: ${dropped.join(', ')}`);
    if (duplicates.length)
      ctx.log(
        `${duplicates.length} duplicate image${duplicates.length === 1 ? '' : 's'} kept once${conflicts ? `, ${conflicts} with disagreeing labels` : ''}`,
      );
  },
});

function pickAttributes(note: Record<string, string | number>): Record<string, string | number> {
  const attributes: Record<string, string | number> = {};
  for (const key of ['gender', 'age', 'ageYears', 'ageMin', 'ageMax', 'ethnicity'] as const)
    if (note[key] !== undefined) attributes[key] = note[key]!;
  return attributes;
}
