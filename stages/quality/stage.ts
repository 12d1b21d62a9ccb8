import type { Hash } from '../../cache/hash.js';
import { readManifest, writeManifest } from '../../datasets/manifest.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { defineStage, type StageContext } from '../../engine/stage.js';
import { humanModelFileMap } from '../../ml/human/model-files.js';
import { BLAZEFACE_MODEL } from '../../ml/human/model-names.js';
import { BACKBONES } from '../../ml/architectures/backbone.js';
import type { QualityEntry } from '../../schemas/types/quality.js';
import type { QualityParams } from './params.js';
import { clustersOf, embeddingOutliers, imageFindings, member, pairsPerSourcePair, type Finding } from './findings.js';
import { searchDuplicates, type SearchItem } from './search.js';
import { qualityMarkdown, qualitySheets } from './summary.js';

/** The measures a `checks:` list can test (docs/pipeline.md, "Checks"). */
const MEASURES = {
  images: 'images in the output manifest',
  duplicatePairs: 'verified near-duplicate pairs',
  crossSourceDuplicatePairs: 'near-duplicate pairs whose images come from two sources',
  duplicateClusters: 'clusters of near-duplicates',
  labelConflicts: 'clusters whose images carry different labels',
  noFaceShare: 'share of the images in which the detector found no face',
  severalFacesShare: 'share of the images in which the detector found several faces',
  blankImages: 'near-constant images',
  exposureShare: 'share of badly exposed images',
  outlierShare: 'share of embedding outliers of their class',
  droppedImages: 'images left out by a drop policy',
};

const share = (n: number, of: number) => (of ? Number((n / of).toFixed(4)) : 0);

export const qualityStage = defineStage<QualityEntry>({
  type: 'quality',
  // 2: registration correlates in one pass, in float64 throughout: on the demo one pair's layout 0.9923 → 0.9911.
  version: '2',
  schema: 'quality.schema.json',
  produces: 'manifest',
  accepts: { input: ['manifest'] },
  measures: MEASURES,
  modelFiles(params) {
    return Object.assign(
      {},
      humanModelFileMap(BACKBONES[params.embedding].model),
      params.faces.enabled ? humanModelFileMap(BLAZEFACE_MODEL) : {},
    ) as Record<string, string>;
  },
  async run(ctx) {
    const p = ctx.params;
    const [view] = [...ctx.inputs.values()];
    const input = readManifest(view, 'quality');
    const blobs = [...new Set(input.map((r) => r.blob))].sort();
    // The detector's model code (tfjs-converter, protobufjs) loads when the stage runs, not on every CLI start.
    const { imageSignatures } = await import('./signatures.js');
    const signatures = await imageSignatures(ctx, blobs);
    for (const f of signatures.failed) ctx.log(`skipped ${f.blob}: ${f.error}`);

    const items = blobs.filter((b) => signatures.of.has(b));
    const recordsOf = new Map<Hash, ManifestRecord[]>();
    for (const r of input) (recordsOf.get(r.blob) ?? recordsOf.set(r.blob, []).get(r.blob)!).push(r);
    const embedded = await embeddingsOf(ctx, items, recordsOf);
    const embeddings = embedded.vectors;

    const searchItems: SearchItem[] = items.map((blob) => {
      const { signature, sample } = signatures.of.get(blob)!;
      const vector = embeddings.get(blob);
      return {
        hashes: signature.hashes.map((hash) => BigInt(`0x${hash}`)),
        flippedHash: BigInt(`0x${signature.flippedHash}`),
        sample: new Uint8Array(ctx.readBlob(sample)),
        ...(vector ? { embedding: vector } : {}),
      };
    });
    const search = searchDuplicates(searchItems, p.duplicates);
    ctx.log(
      `near-duplicates: ${search.candidates} candidate pairs checked, ${search.pairs.length} verified, ` +
        `${search.clusters.length} clusters (hash index ${search.seconds.hashes.toFixed(1)} s, embedding index ` +
        `${search.seconds.embeddings.toFixed(1)} s, ` +
        `verification ${search.seconds.verify.toFixed(1)} s)`,
    );
    const first = (item: number) => recordsOf.get(items[item] as Hash)![0] as ManifestRecord;
    const clusters = clustersOf(search.clusters, (item) => recordsOf.get(items[item] as Hash)!);
    const conflicts = clusters.filter((c) => c.labels.length > 1);
    const findings: Finding[] = [
      ...imageFindings(input, (blob) => signatures.of.get(blob)?.signature, p),
      ...embeddingOutliers(input, (blob) => embeddings.get(blob), p),
    ];

    const clusterOf = new Map<Hash, Hash>();
    for (const c of clusters) for (const m of c.members) clusterOf.set(m.blob, c.id);
    const flags = new Map<ManifestRecord, string[]>();
    const dropped = new Set<ManifestRecord>();
    const byBlob = new Map(input.map((r) => [r.blob, r]));
    for (const f of findings) {
      const r = byBlob.get(f.blob)!;
      if (f.policy === 'drop') dropped.add(r);
      if (f.policy === 'flag') flags.set(r, [...(flags.get(r) ?? []), f.kind]);
    }
    const failedBlobs = new Set(signatures.failed.map((f) => f.blob));
    const output = input
      .filter((r) => !dropped.has(r) && !failedBlobs.has(r.blob))
      .map((r) => {
        const { duplicateCluster: _c, qualityFlags: _f, ...rest } = r;
        const cluster = clusterOf.get(r.blob);
        const flagged = flags.get(r);
        return {
          ...rest,
          ...(cluster ? { duplicateCluster: cluster } : {}),
          ...(flagged ? { qualityFlags: flagged } : {}),
        };
      });
    for (const r of output) ctx.output.reference(r.blob);
    writeManifest(ctx.output, output);

    const crossSource = search.pairs.filter(({ a, b }) => first(a).source !== first(b).source).length;
    const count = (kind: Finding['kind']) => findings.filter((f) => f.kind === kind).length;
    const measures = {
      images: output.length,
      duplicatePairs: search.pairs.length,
      crossSourceDuplicatePairs: crossSource,
      duplicateClusters: clusters.length,
      labelConflicts: conflicts.length,
      noFaceShare: share(count('noFace'), input.length),
      severalFacesShare: share(count('severalFaces'), input.length),
      blankImages: count('blank'),
      exposureShare: share(count('exposure'), input.length),
      outlierShare: share(count('outlier'), input.length),
      droppedImages: dropped.size,
    };
    const sources = [...new Set(input.map((r) => r.source))].sort();
    const report = {
      images: input.length,
      sources: Object.fromEntries(
        sources.map((source) => {
          const of = (f: { source: string }) => f.source === source;
          return [
            source,
            {
              images: input.filter(of).length,
              inClusters: clusters.flatMap((c) => c.members).filter(of).length,
              ...Object.fromEntries(
                (['noFace', 'severalFaces', 'blank', 'exposure', 'outlier'] as const).map((kind) => [
                  kind,
                  findings.filter((f) => f.kind === kind && of(f)).length,
                ]),
              ),
              dropped: [...dropped].filter(of).length,
            },
          ];
        }),
      ),
      duplicates: {
        pairs: search.pairs.length,
        crossSourcePairs: crossSource,
        perSourcePair: pairsPerSourcePair(search.pairs, (item) => first(item).source),
        candidatesChecked: search.candidates,
        flip: p.duplicates.flip,
      },
      clusters,
      pairs: search.pairs.map(({ a, b, scores, via }) => ({
        a: member(first(a)),
        b: member(first(b)),
        layout: Number(scores.layout.toFixed(4)),
        flipped: scores.flipped,
        via,
      })),
      conflicts: conflicts.map((c) => ({ cluster: c.id, labels: c.labels, members: c.members })),
      outliers: findings,
      failed: signatures.failed,
      measures,
    };
    ctx.output.writeJson('quality.json', report);
    ctx.output.writeFile('quality.md', qualityMarkdown(report));
    for (const [file, png] of await qualitySheets(ctx, report, p.sheetSize)) ctx.output.writeFile(file, png);
    ctx.output.setMeasures(measures);
    ctx.output.setMetrics({
      signaturesComputed: signatures.computed,
      signaturesMemoised: signatures.memoised,
      embeddingsComputed: embedded.computed,
      embeddingsMemoised: embedded.memoised,
      candidatePairs: search.candidates,
      skipped: signatures.failed.length,
    });
  },
});

/** Each image's face embedding, as train's and reclassify's backbone features (one memo for all three). */
async function embeddingsOf(
  ctx: StageContext<QualityParams>,
  blobs: readonly Hash[],
  recordsOf: Map<Hash, ManifestRecord[]>,
): Promise<{ vectors: Map<Hash, Float32Array>; computed: number; memoised: number }> {
  const { backboneFeatures } = await import('../../ml/training/features.js');
  const p = ctx.params;
  const examples = blobs.map((blob) => {
    const r = recordsOf.get(blob)![0] as ManifestRecord;
    return { blob, label: Math.max(0, EMOTIONS.indexOf(r.label)), source: r.source };
  });
  const { source, featureSize, computed, memoised } = await backboneFeatures(
    ctx,
    p.backend,
    p.runtime,
    p.embedding,
    examples,
  );
  const vectors = new Map<Hash, Float32Array>();
  for (let at = 0; at < examples.length; at += 256) {
    const chunk = examples.slice(at, at + 256);
    const { x } = await source.batch(chunk);
    chunk.forEach((e, i) => vectors.set(e.blob, x.slice(i * featureSize, (i + 1) * featureSize)));
  }
  return { vectors, computed, memoised };
}
