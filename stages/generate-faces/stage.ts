import { type Expression, type Person } from '../../synth/faces/attributes.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { classSizes, planImages, type PlannedImage } from '../../synth/faces/plan.js';
import { mapBounded } from '../../lib/parallel/map-bounded.js';
import { STYLES, type Style } from '../../synth/faces/styles.js';
import { defineStage } from '../../engine/stage.js';
import type { GenerateFacesEntry } from '../../schemas/types/generate-faces.js';
import type { RenderedFace } from '../../synth/faces/render.js';
import type { NearDuplicateTruth, PlantedImage } from './plant.js';

/** One line of annotations.jsonl: the ground truth a later stage's guesses can be scored against. */
export interface FaceAnnotation extends Person {
  origPath: string;
  trueLabel: Expression;
  givenLabel: Expression;
}

export const GENERATOR = 'fer-dag procedural faces v1';
const CSV_FILE = 'fer2013.csv';
const CSV_HEADER = 'emotion,pixels,Usage';
/** Faces rendered at once: enough to keep libvips' threads busy, few enough to bound memory. */
const IN_FLIGHT = 8;

/** FER2013's rows are ordered Training, PublicTest, PrivateTest, about 80/10/10. */
function usage(row: number, rows: number): string {
  return row < Math.round(rows * 0.8) ? 'Training' : row < Math.round(rows * 0.9) ? 'PublicTest' : 'PrivateTest';
}

function folderPath(style: Style, image: PlannedImage): string {
  return `${style.sourceLabel(image.givenLabel)}/${style.name}_${String(image.number).padStart(6, '0')}.png`;
}

function byOrigPath(a: { origPath: string }, b: { origPath: string }): number {
  return a.origPath < b.origPath ? -1 : a.origPath > b.origPath ? 1 : 0;
}

const csvLine = (origPath: string) => Number(origPath.slice(origPath.lastIndexOf(':') + 1));

function annotation(origPath: string, image: PlannedImage, person: Person): FaceAnnotation {
  const { gender, age, ageYears, ethnicity } = person;
  return { origPath, trueLabel: image.trueLabel, givenLabel: image.givenLabel, gender, age, ageYears, ethnicity };
}

export const generateFacesStage = defineStage<GenerateFacesEntry>({
  type: 'generate-faces',
  version: '1',
  schema: 'generate-faces.schema.json',
  produces: 'source',

  async run(ctx) {
    const { params } = ctx;
    const style = STYLES[params.style];
    const size = params.size ?? style.size;
    const contempt = style.format === 'fer2013-csv' ? 0 : params.contempt; // FER2013 has no contempt class
    const sizes = classSizes(params.perClass, params.classSkew ?? style.defaultSkew);
    const plan = planImages(sizes, contempt, params.labelNoise, ctx.random('order'), ctx.random('label-noise'));
    const csv = style.format === 'fer2013-csv';
    const { encodePng, renderFace } = await import('../../synth/faces/render.js'); // sharp, only when faces are drawn
    const near = params.nearDuplicates;
    // Planting draws only from streams of its own, so the images above come out as they would without it.
    const plant = near ? await import('./plant.js') : undefined;
    const within = near && plant ? plant.planWithin(plan, style, near, ctx.random('near-duplicates')) : [];
    const originals = new Set(within.map((copy) => copy.original));
    const kept = new Map<number, { raster: RenderedFace; person: Person }>();
    const origPathOf = (image: PlannedImage) => (csv ? `${CSV_FILE}:${image.number + 2}` : folderPath(style, image));

    // Each image draws from its own stream, so concurrency cannot change what any image looks like.
    const rendered = await mapBounded(
      plan,
      IN_FLIGHT,
      async (image) => {
        if (ctx.signal.aborted) throw new Error('generate-faces was cancelled');
        const face = await renderFace(style, size, ctx.random(`face ${image.number}`), image.trueLabel);
        if (originals.has(image.number)) kept.set(image.number, { raster: face, person: face.person });
        if (csv) {
          const row = `${style.sourceLabel(image.givenLabel)},${face.pixels.join(' ')},${usage(image.number, plan.length)}`;
          return { row, annotation: annotation(origPathOf(image), image, face.person) };
        }
        const origPath = origPathOf(image);
        // The tree is sorted by path: write order does not matter.
        ctx.output.writeFile(origPath, await encodePng(face));
        return { row: '', annotation: annotation(origPath, image, face.person) };
      },
      (done) => ctx.progress(done, plan.length),
    );

    // Planted images follow the stage's own: extra CSV rows at the end, file numbers after the last.
    const planted: PlantedImage[] = [];
    if (near && plant) {
      const keepSize = csv; // a CSV row is always 48×48: a resized copy is scaled down and back up
      planted.push(...(await plant.renderWithin(within, { plan, faces: kept }, ctx.stage, keepSize, plan.length)));
      if (near.shared) {
        const noise = ctx.random('near-duplicates shared');
        const first = plan.length + planted.length;
        planted.push(...(await plant.renderShared(near.shared, style, size, params.labelNoise, noise, first)));
      }
      ctx.progress(planted.length, planted.length, 'near-duplicates');
    }
    for (const [k, image] of planted.entries()) {
      if (csv) {
        if (image.raster.size !== 48 || image.raster.channels !== 1)
          throw new Error(`planted image ${image.number} is not 48×48 gray`);
        const label = style.sourceLabel(image.givenLabel);
        rendered.push({
          row: `${label},${image.raster.pixels.join(' ')},${usage(k, planted.length)}`,
          annotation: annotation(origPathOf(image), image, image.person),
        });
        continue;
      }
      ctx.output.writeFile(origPathOf(image), await encodePng(image.raster));
      rendered.push({ row: '', annotation: annotation(origPathOf(image), image, image.person) });
    }

    if (csv) ctx.output.writeFile(CSV_FILE, [CSV_HEADER, ...rendered.map((r) => r.row)].join('\n') + '\n');
    // Sorted by origPath; CSV rows are already in line order (a string sort would put line 10 before line 2).
    const annotations = rendered.map((r) => r.annotation);
    if (!csv) annotations.sort(byOrigPath);
    ctx.output.writeFile('annotations.jsonl', annotations.map((a) => JSON.stringify(a)).join('\n') + '\n');
    ctx.output.writeJson('dataset.json', { format: style.format, style: style.name, generator: GENERATOR });

    const perClass = Object.fromEntries(EMOTIONS.map((emotion) => [emotion, sizes[emotion]]));
    const flipped = plan.filter((image) => image.givenLabel !== image.trueLabel).length;
    if (!near) {
      ctx.output.setMetrics({ images: plan.length, perClass, flipped, contempt });
      return;
    }
    const truth: NearDuplicateTruth[] = [
      ...[...originals].map((n) => ({
        origPath: origPathOf(plan[n]!),
        photo: `own:${ctx.stage}:${n}`,
        transformation: 'original' as const,
      })),
      ...planted.map((image) => ({
        origPath: origPathOf(image),
        photo: image.photo,
        transformation: image.transformation,
      })),
    ];
    truth.sort(csv ? (a, b) => csvLine(a.origPath) - csvLine(b.origPath) : byOrigPath);
    ctx.output.writeFile(
      'near-duplicates.jsonl',
      truth.map((t) => JSON.stringify(t)).join('\n') + (truth.length ? '\n' : ''),
    );
    const byTransformation: Record<string, number> = {};
    for (const t of truth) byTransformation[t.transformation] = (byTransformation[t.transformation] ?? 0) + 1;
    const nearDuplicates = {
      within: within.length,
      shared: planted.length - within.length,
      labelConflicts: within.filter((copy) => copy.conflict).length,
      groups: new Set(truth.map((t) => t.photo)).size,
      byTransformation,
    };
    ctx.output.setMetrics({ images: plan.length + planted.length, perClass, flipped, contempt, nearDuplicates });
  },
});
