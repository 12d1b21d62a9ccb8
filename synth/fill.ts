import sharp from 'sharp';
import type { Hash } from '../cache/hash.js';
import { BLAZEFACE_MODEL } from '../ml/human/blazeface.js';
import { decodeImage } from '../datasets/images/prepare.js';
import { toChannels } from '../datasets/images/raster.js';
import type { ManifestRecord } from '../datasets/record.js';
import type { FaceImage } from '../ml/architectures/backbone.js';
import { describePlans, planHumanModels, PlannedModels } from '../ml/human/plan.js';
import { stageModelStore } from '../ml/human/inference.js';
import { runtimeKeyPart, type InferenceModel } from '../ml/inference/model.js';
import { selectBackend } from '../ml/runtime.js';
import { mapBounded } from '../lib/parallel/map-bounded.js';
import type { StageContext } from '../engine/stage.js';
import {
  checkImage,
  faceCrop,
  type Rejection,
  type CheckModels,
  type CheckSettings,
  type ReferenceClassifier,
  type Verdict,
} from './checks.js';
import { holeRequest } from './prompts.js';
import type { Hole } from './select.js';
import {
  SynthesisError,
  type SynthesisRequest,
  type SynthesisSettings,
  type Synthesizer,
  type SynthesizerSpec,
} from './types.js';

/** One hole's fate: the accepted image's record, or every attempt's reasons. */
export interface HoleOutcome {
  hole: Hole;
  record?: ManifestRecord;
  attempts: Array<{ attempt: number; seed: number; rejections?: Rejection[]; error?: string }>;
}

/** Run facts for the stage record's metrics: how much was generated, remembered and checked this run. */
export interface FillTally {
  generated: number;
  fromMemo: number;
  checked: number;
}

export interface TargetFormat {
  size: number;
  channels: 1 | 3;
  format: 'png' | 'jpeg';
}

async function makeSynthesizer(spec: SynthesizerSpec, pipelineDir: string): Promise<Synthesizer> {
  const model = spec.model !== undefined ? { model: spec.model } : {};
  switch (spec.type) {
    case 'procedural':
      return (await import('./procedural.js')).proceduralSynthesizer({
        look: spec.look,
        ...(spec.looks ? { looks: spec.looks } : {}),
      });
    case 'command':
      if (!spec.command)
        throw new Error('synthesizer type command needs command: [program, args…] (see docs/synthesizers.md)');
      return (await import('./command.js')).commandSynthesizer({
        command: spec.command,
        cwd: pipelineDir,
        timeoutSeconds: spec.timeoutSeconds,
        concurrency: spec.concurrency,
        ...model,
      });
    case 'http':
      if (!spec.servers)
        throw new Error(
          'synthesizer type http needs servers: [http://host:port, …] (AUTOMATIC1111 started with --api)',
        );
      return (await import('./http.js')).httpSynthesizer({
        servers: spec.servers,
        concurrencyPerServer: spec.concurrencyPerServer,
        timeoutMs: spec.timeoutMs,
        attempts: spec.attempts,
        backoffMs: spec.backoffMs,
        ...(spec.extra ? { extra: spec.extra } : {}),
        ...model,
      });
  }
}

/**
 * The reference classifier the emotion check asks: human-models' FER2013 model, or a train stage named in
 * `models:`.
 */
async function referenceClassifier(
  ctx: StageContext<SynthesisSettings>,
  name: string,
  load: (name: string) => Promise<InferenceModel>,
): Promise<{ classifier: ReferenceClassifier; identity: unknown }> {
  if (name === 'pretrained')
    return {
      classifier: { kind: 'pretrained', model: await load('emotion') },
      identity: 'pretrained emotion',
    };
  const view = ctx.inputs.get(name);
  const models = Array.isArray(ctx.entry.models) ? ctx.entry.models : [];
  if (!view || !models.includes(name))
    throw new Error(
      `checks.emotion.classifier names "${name}": name it under models: of this stage (a train stage), or say pretrained`,
    );
  const { loadTrainedModel, modelMetadata } = await import('../ml/model-files.js');
  const meta = modelMetadata(view);
  if (meta.arch !== 'paper-cnn' || !meta.inputSize || !meta.channels) {
    throw new Error(
      `checks.emotion.classifier "${name}" is a ${meta.arch} model; the emotion check takes a train stage with arch: paper-cnn, or pretrained`,
    );
  }
  const model = await loadTrainedModel(view);
  return {
    classifier: { kind: 'trained', model, inputSize: meta.inputSize, channels: meta.channels, stage: name },
    identity: { stage: name, tree: view.treeHash },
  };
}

function faceImageOf(raster: { width: number; height: number; data: Uint8Array }): FaceImage {
  return { pixels: raster.data, width: raster.width, height: raster.height, channels: 3 };
}

/** Cuts the accepted face (or takes the whole image) and writes it as its source's images are. */
async function convert(
  image: FaceImage,
  face: Verdict['face'],
  target: TargetFormat,
): Promise<{ bytes: Buffer; width: number; height: number }> {
  const crop = faceCrop(image, face ?? [0, 0, image.width, image.height], target.size);
  const raster = toChannels(
    { width: crop.width, height: crop.height, channels: 3, data: crop.pixels },
    target.channels,
  );
  const raw = sharp(Buffer.from(raster.data), {
    raw: { width: target.size, height: target.size, channels: target.channels },
  });
  const shaped = target.channels === 1 ? raw.toColourspace('b-w') : raw;
  const bytes =
    target.format === 'jpeg'
      ? await shaped.jpeg({ quality: 92 }).toBuffer()
      : await shaped.png({ compressionLevel: 6 }).toBuffer();
  return { bytes, width: target.size, height: target.size };
}

/**
 * Fills each hole with a generated image that passes the checks, trying the next seed after a rejection,
 * up to maxAttempts. Generated images are memoised per request and generator, verdicts per image and
 * checks, so a rerun regenerates nothing and a new check only re-checks.
 */
export async function fillHoles(
  ctx: StageContext<SynthesisSettings>,
  holes: readonly Hole[],
  formatOf: (hole: Hole) => TargetFormat,
): Promise<{ outcomes: HoleOutcome[]; tally: FillTally }> {
  const p = ctx.params;
  const tally: FillTally = { generated: 0, fromMemo: 0, checked: 0 };
  if (holes.length === 0) return { outcomes: [], tally };
  await selectBackend(p.backend);
  const settings: CheckSettings = {
    oneFace: p.checks.oneFace,
    emotion: p.checks.emotion.enabled ? { minScore: p.checks.emotion.minScore } : null,
    attributes: p.checks.attributes,
    detector: p.detector,
    ageBuckets: p.ageBuckets,
  };
  // The checks run here, in the stage's thread, one image at a time: each session gets every core.
  const wanted = [BLAZEFACE_MODEL];
  if (p.checks.emotion.enabled && p.checks.emotion.classifier === 'pretrained') wanted.push('emotion');
  if (p.checks.attributes.length) wanted.push('gear', 'faceres');
  const plans = await planHumanModels(wanted, p.runtime, p.backend, stageModelStore(ctx));
  ctx.log(`check models: ${describePlans(plans)}`);
  const planned = new PlannedModels();
  const model = (name: string) => planned.get(plans[name]!, p.runtime, 1);
  const reference = p.checks.emotion.enabled
    ? await referenceClassifier(ctx, p.checks.emotion.classifier, model)
    : undefined;
  const models: CheckModels = {
    blazeface: await model(BLAZEFACE_MODEL),
    ...(reference ? { reference: reference.classifier } : {}),
    ...(p.checks.attributes.length
      ? { attributes: { gear: await model('gear'), faceres: await model('faceres') } }
      : {}),
  };
  const runtimes = Object.values(plans).filter((plan) => runtimeKeyPart(plan.runtime).runtime);
  const checksKey = {
    settings,
    classifier: reference?.identity ?? null,
    models: ctx.modelHashes,
    ...(runtimes.length ? { runtimes: Object.fromEntries(runtimes.map((plan) => [plan.name, plan.runtime])) } : {}),
  };
  const synthesizer = await makeSynthesizer(p.synthesizer, ctx.pipelineDir);
  const images = ctx.memo('synthesis-image');
  const verdicts = ctx.memo('synthesis-check');
  let done = 0;

  const generate = async (request: SynthesisRequest): Promise<{ blob: Hash; bytes: Uint8Array }> => {
    const key = { generator: synthesizer.identity, request };
    const known = images.get<{ blob: Hash }>(key);
    if (known && ctx.hasBlob(known.blob)) {
      tally.fromMemo++;
      return { blob: known.blob, bytes: ctx.readBlob(known.blob) };
    }
    const bytes = await synthesizer.generate(request, ctx.signal);
    const blob = ctx.output.putBlob(bytes);
    images.set(key, { blob }, [blob]);
    tally.generated++;
    return { blob, bytes };
  };

  const check = async (blob: Hash, bytes: Uint8Array, hole: Hole, request: SynthesisRequest) => {
    const target = formatOf(hole);
    const key = { blob, ...checksKey, wanted: { emotion: hole.emotion, subgroup: hole.subgroup }, target };
    const known = verdicts.get<{ verdict: Verdict; converted?: { blob: Hash; width: number; height: number } }>(key);
    if (known && (!known.converted || ctx.hasBlob(known.converted.blob))) return known;
    let image: FaceImage;
    try {
      image = faceImageOf(toChannels(await decodeImage(bytes), 3));
    } catch (error) {
      // An image the synthesizer returned that cannot be read fails this attempt, not the stage.
      return { unreadable: `the generated image cannot be read: ${(error as Error).message}` };
    }
    const verdict = await checkImage(models, image, { emotion: hole.emotion, subgroup: request.subgroup }, settings);
    tally.checked++;
    let converted: { blob: Hash; width: number; height: number } | undefined;
    if (verdict.accepted) {
      const c = await convert(image, verdict.face, target);
      converted = { blob: ctx.output.putBlob(c.bytes), width: c.width, height: c.height };
    }
    const value = { verdict, ...(converted ? { converted } : {}) };
    verdicts.set(key, value, converted ? [converted.blob] : []);
    return value;
  };

  try {
    const outcomes = await mapBounded(holes, synthesizer.concurrency, async (hole) => {
      const outcome: HoleOutcome = { hole, attempts: [] };
      for (let attempt = 0; attempt < p.maxAttempts && !outcome.record; attempt++) {
        const request = {
          ...holeRequest(p, ctx.seed, hole, attempt),
          ...(synthesizer.bySource ? { source: hole.source } : {}),
        };
        let generated: { blob: Hash; bytes: Uint8Array };
        try {
          generated = await generate(request);
        } catch (error) {
          if (!(error instanceof SynthesisError)) throw error;
          outcome.attempts.push({ attempt, seed: request.seed, error: error.message });
          continue;
        }
        const result = await check(generated.blob, generated.bytes, hole, request);
        if ('unreadable' in result) {
          outcome.attempts.push({ attempt, seed: request.seed, error: result.unreadable });
          continue;
        }
        outcome.attempts.push({
          attempt,
          seed: request.seed,
          ...(result.verdict.accepted ? {} : { rejections: result.verdict.rejections }),
        });
        if (result.verdict.accepted && result.converted) {
          const target = formatOf(hole);
          const { gender, age, ethnicity } = request.subgroup;
          outcome.record = {
            blob: result.converted.blob,
            source: hole.source,
            origPath: `generated/${hole.emotion}/${hole.subgroup}/${hole.slot}.${target.format === 'jpeg' ? 'jpg' : 'png'}`,
            label: hole.emotion,
            sourceLabel: hole.emotion,
            width: result.converted.width,
            height: result.converted.height,
            channels: target.channels,
            format: target.format,
            synthetic: true,
            split: 'evaluator',
            gender,
            age,
            ethnicity,
            subgroup: hole.subgroup,
            attributes: { from: 'requested' },
            prompt: request.prompt,
            negativePrompt: request.negativePrompt,
            seed: request.seed,
            generator: synthesizer.identity,
            attempt,
          } satisfies ManifestRecord;
        }
      }
      ctx.progress(++done, holes.length, 'generating and checking faces');
      return outcome;
    });
    ctx.log(
      `synthesis: ${tally.generated} images generated, ${tally.fromMemo} from earlier runs, ${tally.checked} checked`,
    );
    return { outcomes, tally };
  } finally {
    await synthesizer.close?.();
  }
}
