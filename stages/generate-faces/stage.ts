import { type Expression, type Person } from '../../synth/faces/attributes.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { classSizes, planImages, type PlannedImage } from '../../synth/faces/plan.js';
import { mapBounded } from '../../lib/parallel/map-bounded.js';
import { STYLES, type Style } from '../../synth/faces/styles.js';
import { defineStage } from '../../engine/stage.js';
import type { GenerateFacesEntry } from '../../schemas/types/generate-faces.js';

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

    // Each image draws from its own stream, so concurrency cannot change what any image looks like.
    const rendered = await mapBounded(
      plan,
      IN_FLIGHT,
      async (image) => {
        if (ctx.signal.aborted) throw new Error('generate-faces was cancelled');
        const face = await renderFace(style, size, ctx.random(`face ${image.number}`), image.trueLabel);
        if (csv) {
          const row = `${style.sourceLabel(image.givenLabel)},${face.pixels.join(' ')},${usage(image.number, plan.length)}`;
          return { row, annotation: annotation(`${CSV_FILE}:${image.number + 2}`, image, face.person) };
        }
        const origPath = folderPath(style, image);
        // The tree is sorted by path: write order does not matter.
        ctx.output.writeFile(origPath, await encodePng(face));
        return { row: '', annotation: annotation(origPath, image, face.person) };
      },
      (done) => ctx.progress(done, plan.length),
    );

    if (csv) ctx.output.writeFile(CSV_FILE, [CSV_HEADER, ...rendered.map((r) => r.row)].join('\n') + '\n');
    // Sorted by origPath; CSV rows are already in line order (a string sort would put line 10 before line 2).
    const annotations = rendered.map((r) => r.annotation);
    if (!csv) annotations.sort((a, b) => (a.origPath < b.origPath ? -1 : a.origPath > b.origPath ? 1 : 0));
    ctx.output.writeFile('annotations.jsonl', annotations.map((a) => JSON.stringify(a)).join('\n') + '\n');
    ctx.output.writeJson('dataset.json', { format: style.format, style: style.name, generator: GENERATOR });

    const perClass = Object.fromEntries(EMOTIONS.map((emotion) => [emotion, sizes[emotion]]));
    const flipped = plan.filter((image) => image.givenLabel !== image.trueLabel).length;
    ctx.output.setMetrics({ images: plan.length, perClass, flipped, contempt });
  },
});
