import { type Expression, type Person } from '../../synth/faces/attributes.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { mapBounded } from '../../lib/parallel/map-bounded.js';
import { chance, index, seededRandom, shuffle, type Rng } from '../../lib/random.js';
import {
  resize,
  toGray,
  transform,
  TRANSFORMATIONS,
  type Draws,
  type Raster,
  type Transformation,
} from '../../synth/faces/near-duplicates.js';
import { renderFace } from '../../synth/faces/render.js';
import type { PlannedImage } from '../../synth/faces/plan.js';
import { STYLES, type Style, type StyleName } from '../../synth/faces/styles.js';
import type { GenerateFacesParams } from './params.js';

export type NearDuplicateParams = NonNullable<GenerateFacesParams['nearDuplicates']>;
type SharedParams = NonNullable<NearDuplicateParams['shared']>;

/** How a truth line says an image came about: `format` is a shared photo only converted to this source. */
export type TruthTransformation = 'original' | 'format' | Transformation;

/** One line of near-duplicates.jsonl: images with the same `photo` are near-duplicates of each other. */
export interface NearDuplicateTruth {
  origPath: string;
  photo: string;
  transformation: TruthTransformation;
}

/** A planted image, ready to be written after the stage's own images. */
export interface PlantedImage extends PlannedImage {
  person: Person;
  raster: Raster;
  photo: string;
  transformation: Exclude<TruthTransformation, 'original'>;
}

/** What the stage already rendered: its plan and the pixels of the images `originalsOf` asked for. */
export interface OwnImages {
  plan: readonly PlannedImage[];
  faces: ReadonlyMap<number, { raster: Raster; person: Person }>;
}

/** The edits a shared photo may get on top of its format conversion (resize and gray are the conversion). */
const SHARED_EXTRAS: readonly Transformation[] = ['jpeg30', 'crop', 'shift', 'brightness', 'flip'];
/** The order a photo's holders are listed in: the first keeps the plain conversion. */
const STYLE_ORDER: readonly StyleName[] = ['fer2013', 'nhfi', 'affectnet'];
/** Pool photos rendered at once, as for the stage's own faces. */
const IN_FLIGHT = 8;

const draw3 = (rng: Rng): Draws => [rng(), rng(), rng()];

/** The edits a copy of this style's images cycles through: a gray source has no colour to remove. */
export function withinCycle(style: Style): Transformation[] {
  return TRANSFORMATIONS.filter((t) => t !== 'gray' || style.channels === 3);
}

interface WithinCopy {
  /** Position among the copies, and the original's plan number. */
  k: number;
  original: number;
  transformation: Transformation;
  draws: Draws;
  /** Set for a label conflict: the copy is filed under this emotion instead of the original's given label. */
  conflict?: Expression;
}

/**
 * Which of the stage's images get copies, and how: decided before rendering so the stage can keep just those
 * images' pixels. Originals are emotion images (a contempt copy would be dropped by merge with its original),
 * drawn without replacement, `perImage` copies each; all draws come from the stage's 'near-duplicates' stream.
 */
export function planWithin(
  plan: readonly PlannedImage[],
  style: Style,
  params: NearDuplicateParams,
  rng: Rng,
): WithinCopy[] {
  const candidates = shuffle(
    rng,
    plan.filter((image) => image.trueLabel !== 'contempt').map((image) => image.number),
  );
  if (params.within === 0 || candidates.length === 0) return [];
  const cycle = withinCycle(style);
  const copies: WithinCopy[] = Array.from({ length: params.within }, (_, k) => ({
    k,
    // More copies than originals wrap round: the groups grow rather than the stage failing.
    original: candidates[Math.floor(k / params.perImage) % candidates.length]!,
    transformation: cycle[k % cycle.length]!,
    draws: draw3(rng),
  }));
  const conflicts = shuffle(rng, [...copies]).slice(0, Math.round(params.labelConflicts * copies.length));
  for (const copy of conflicts.sort((a, b) => a.k - b.k)) {
    const given = plan[copy.original]!.givenLabel;
    const others = EMOTIONS.filter((emotion) => emotion !== given);
    copy.conflict = others[index(rng, others.length)]!;
  }
  return copies;
}

/** Renders the `within` copies from the originals' pixels. */
export async function renderWithin(
  copies: readonly WithinCopy[],
  own: OwnImages,
  stage: string,
  keepSize: boolean,
  firstNumber: number,
): Promise<PlantedImage[]> {
  return mapBounded(copies, IN_FLIGHT, async (copy) => {
    const original = own.plan[copy.original]!;
    const face = own.faces.get(copy.original);
    if (!face) throw new Error(`generate-faces kept no pixels of image ${copy.original}`);
    return {
      number: firstNumber + copy.k,
      trueLabel: original.trueLabel,
      givenLabel: copy.conflict ?? original.givenLabel,
      person: face.person,
      raster: await transform(face.raster, copy.transformation, copy.draws, { keepSize }),
      photo: `own:${stage}:${copy.original}`,
      transformation: copy.transformation,
    };
  });
}

interface PoolPhoto {
  i: number;
  emotion: (typeof EMOTIONS)[number];
  /** The styles holding the photo, in STYLE_ORDER. */
  holders: StyleName[];
  draws: Record<StyleName, Draws>;
  /** The photo's stream, past the draws above: what is left renders the face. */
  rng: Rng;
}

/**
 * Photo i of a pool, from the pool's own stream (its seed, name and i), never from the stage's: every stage
 * naming the pool draws the same emotion, holders and face. A quarter of the photos are in all three styles.
 */
function poolPhoto(shared: SharedParams, i: number): PoolPhoto {
  const rng = seededRandom(shared.seed, 'near-duplicate pool', shared.pool, String(i));
  const emotion = EMOTIONS[index(rng, EMOTIONS.length)]!;
  const left = chance(rng, 0.25) ? undefined : STYLE_ORDER[index(rng, STYLE_ORDER.length)];
  const holders = STYLE_ORDER.filter((name) => name !== left);
  // Drawn for every style, held or not, so a stage's choices cannot depend on which styles hold the photo.
  const draws = Object.fromEntries(STYLE_ORDER.map((name) => [name, draw3(rng)])) as Record<StyleName, Draws>;
  return { i, emotion, holders, draws, rng };
}

/**
 * The edit on top of the format conversion for this style's copy of photo i: none for even photos (their copies
 * differ only by format); for odd ones, every holder after the first gets one, cycling through SHARED_EXTRAS.
 */
function sharedExtra(photo: PoolPhoto, style: StyleName): Transformation | undefined {
  const j = photo.holders.indexOf(style);
  if (photo.i % 2 === 0 || j < 1) return undefined;
  return SHARED_EXTRAS[((photo.i - 1) / 2 + j - 1) % SHARED_EXTRAS.length];
}

/** Converts a canonical photo to a source's own format: its side, and gray where the source is gray. */
async function toFormat(canonical: Raster, style: Style, size: number): Promise<Raster> {
  const sized = await resize(canonical, size);
  return style.channels === 1 ? toGray(sized) : sized;
}

/**
 * The pool photos this style holds, rendered canonically (AffectNet's look, in colour, at the pool's size),
 * converted to the source's format and maybe edited once more. The given label follows the stage's label
 * noise, drawn from its own 'near-duplicates shared' stream, so the same photo can be filed differently in
 * two sources, as real cross-dataset duplicates are.
 */
export async function renderShared(
  shared: SharedParams,
  style: Style,
  size: number,
  labelNoise: number,
  noiseRng: Rng,
  firstNumber: number,
): Promise<PlantedImage[]> {
  const held = Array.from({ length: shared.photos }, (_, i) => poolPhoto(shared, i)).filter((photo) =>
    photo.holders.includes(style.name),
  );
  const labels = held.map((photo): Expression => {
    if (!chance(noiseRng, labelNoise)) return photo.emotion;
    const others = EMOTIONS.filter((emotion) => emotion !== photo.emotion);
    return others[index(noiseRng, others.length)]!;
  });
  return mapBounded([...held.entries()], IN_FLIGHT, async ([s, photo]) => {
    const face = await renderFace(STYLES.affectnet, shared.size, photo.rng, photo.emotion);
    const converted = await toFormat(face, style, size);
    const extra = sharedExtra(photo, style.name);
    return {
      number: firstNumber + s,
      trueLabel: photo.emotion,
      givenLabel: labels[s]!,
      person: face.person,
      raster: extra ? await transform(converted, extra, photo.draws[style.name]) : converted,
      photo: `pool:${shared.pool}:${photo.i}`,
      transformation: extra ?? 'format',
    };
  });
}
