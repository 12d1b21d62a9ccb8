import { type Expression } from './attributes.js';
import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import { index, shuffle, type Rng } from '../../lib/random.js';

/** One image to generate: what it shows and what label it is filed under (different when flipped). */
export interface PlannedImage {
  /** Its position in the output: file number, or CSV row (0-based). */
  number: number;
  trueLabel: Expression;
  givenLabel: Expression;
}

/** Images per emotion: `perClass` times the emotion's skew multiplier, at least one. */
export function classSizes(perClass: number, skew: Partial<Record<Emotion, number>>): Record<Emotion, number> {
  const sizes = {} as Record<Emotion, number>;
  for (const emotion of EMOTIONS) sizes[emotion] = Math.max(1, Math.round(perClass * (skew[emotion] ?? 1)));
  return sizes;
}

/**
 * Lays out the images in a shuffled order (a file's number says nothing about its class) and flips exactly
 * round(labelNoise × n) emotion labels, n the number of emotion images, to another emotion chosen uniformly.
 * Contempt images keep their label: they are there to be dropped, not to be noise.
 */
export function planImages(
  sizes: Record<Emotion, number>,
  contempt: number,
  labelNoise: number,
  orderRng: Rng,
  noiseRng: Rng,
): PlannedImage[] {
  const labels: Expression[] = EMOTIONS.flatMap((emotion) => Array<Expression>(sizes[emotion]).fill(emotion));
  for (let i = 0; i < contempt; i++) labels.push('contempt');
  shuffle(orderRng, labels);
  const images = labels.map((label, number): PlannedImage => ({ number, trueLabel: label, givenLabel: label }));

  const emotionImages = shuffle(
    noiseRng,
    images.filter((image) => image.trueLabel !== 'contempt'),
  );
  const flips = Math.round(labelNoise * emotionImages.length);
  for (const image of emotionImages.slice(0, flips)) {
    const others = EMOTIONS.filter((emotion) => emotion !== image.trueLabel);
    image.givenLabel = others[index(noiseRng, others.length)]!;
  }
  return images;
}
