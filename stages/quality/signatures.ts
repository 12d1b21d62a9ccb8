import * as os from 'node:os';
import type { Hash } from '../../cache/hash.js';
import type { StageContext } from '../../engine/stage.js';
import { mapRequests } from '../../lib/parallel/map-requests.js';
import { describePlans, planHumanModels } from '../../ml/human/plan.js';
import { stageModelStore } from '../../ml/human/inference.js';
import { BLAZEFACE_MODEL } from '../../ml/human/model-names.js';
import type { ImageSignature, QualityReply, QualityRequest } from './worker.js';
import type { QualityParams } from './params.js';

/** Bumped when a signature is computed differently for the same image and settings (sample, hash, counting). */
const SIGNATURE_VERSION = 2;
const IMAGES_PER_REQUEST = 16;

export interface SignedImage {
  signature: ImageSignature;
  /** The 48×48 gray sample, kept as a blob so a later run verifies pairs without decoding again. */
  sample: Hash;
}

export interface Signatures {
  of: Map<Hash, SignedImage>;
  failed: Array<{ blob: Hash; error: string }>;
  computed: number;
  memoised: number;
}

/**
 * Each image's signature, memoised per image blob (with the detector's files, runtime and options when faces
 * are counted), as agr memoises its predictions: adding a source computes only its images.
 */
export async function imageSignatures(ctx: StageContext<QualityParams>, blobs: readonly Hash[]): Promise<Signatures> {
  const p = ctx.params;
  const memo = ctx.memo('quality-signature');
  const plans = p.faces.enabled
    ? await planHumanModels([BLAZEFACE_MODEL], p.runtime, p.backend, stageModelStore(ctx))
    : undefined;
  const detectorFiles = Object.fromEntries(
    Object.entries(ctx.modelHashes).filter(([file]) => file.startsWith(`${BLAZEFACE_MODEL}.`)),
  );
  const keyOf = (blob: Hash) => ({
    blob,
    version: SIGNATURE_VERSION,
    ...(plans
      ? {
          detector: p.detector,
          padBelow: p.faces.padBelow,
          files: detectorFiles,
          runtime: plans[BLAZEFACE_MODEL]!.runtime,
        }
      : {}),
  });
  const of = new Map<Hash, SignedImage>();
  const todo: Hash[] = [];
  for (const blob of new Set(blobs)) {
    const known = memo.get<SignedImage>(keyOf(blob));
    if (known && ctx.output.tryReference(known.sample)) of.set(blob, known);
    else todo.push(blob);
  }
  const memoised = of.size;
  ctx.log(
    `${of.size + todo.length} images: ${memoised} signatures memoised, ${todo.length} to compute` +
      (plans ? ` (faces: ${describePlans(plans)})` : ''),
  );
  const failed: Signatures['failed'] = [];
  const workers = Math.min(os.availableParallelism(), Math.ceil(todo.length / IMAGES_PER_REQUEST));
  let done = 0;
  await mapRequests<QualityRequest, QualityReply[number]>({
    script: new URL('./worker.js', import.meta.url),
    count: todo.length,
    perRequest: IMAGES_PER_REQUEST,
    workers,
    request: (indices) => ({
      backend: p.backend,
      runtime: p.runtime,
      workers,
      ...(plans ? { detectorPlan: plans[BLAZEFACE_MODEL]! } : {}),
      detector: p.detector,
      padBelow: p.faces.padBelow,
      images: indices.map((i) => ctx.readBlob(todo[i] as Hash)),
    }),
    onReply: (indices, results) => {
      results.forEach((result, k) => {
        const blob = todo[indices[k] as number] as Hash;
        if ('error' in result) {
          failed.push({ blob, error: result.error });
          return;
        }
        const signed = { signature: result.signature, sample: ctx.output.putBlob(result.sample) };
        memo.set(keyOf(blob), signed, [signed.sample]);
        of.set(blob, signed);
      });
      done += indices.length;
      ctx.progress(done, todo.length, 'image signatures');
    },
  });
  return { of, failed, computed: todo.length - failed.length, memoised };
}
