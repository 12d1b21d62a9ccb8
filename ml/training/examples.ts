import { LRUCache } from 'lru-cache';
import type { Hash } from '../../cache/hash.js';
import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import { decodeImage } from '../../datasets/images/prepare.js';
import { resizeSquare, toChannels, type Raster } from '../../datasets/images/raster.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { shuffle, type Rng } from '../../lib/random.js';
import type { Batch } from './replicas.js';

/** One training image: its blob and its class id in the canonical emotion order. */
export interface Example {
  blob: Hash;
  label: number;
  source: string;
}

/** `all`, the artificial (generated) images, or the named sources. */
export type TrainOn = 'all' | 'artificial' | string[];

/**
 * The records a model trains on: those of the chosen sources, from the splits named in `splits` (records
 * without a split — a dataset not yet distributed — count as training data). The evaluator's test split is
 * never trained on.
 */
export function selectExamples(
  records: readonly ManifestRecord[],
  trainOn: TrainOn,
  splits: readonly string[],
): Example[] {
  const wanted = (r: ManifestRecord): boolean =>
    trainOn === 'all' ? true : trainOn === 'artificial' ? r.synthetic : trainOn.includes(r.source);
  const known = new Set(records.map((r) => r.source));
  if (Array.isArray(trainOn)) {
    const missing = trainOn.filter((s) => !known.has(s));
    if (missing.length)
      throw new Error(
        `trainOn names ${missing.map((s) => `"${s}"`).join(', ')}, not a source of the input (sources: ${[...known].sort().join(', ')})`,
      );
  }
  return records
    .filter((r) => wanted(r) && (r.split === undefined || splits.includes(r.split)))
    .map((r) => ({ blob: r.blob, label: EMOTIONS.indexOf(r.label as Emotion), source: r.source }))
    .filter((e) => e.label >= 0);
}

/**
 * A seeded split stratified by class, as Keras' validation_split is not (it takes the last 20%):
 * every class keeps its share in both parts even when a class is rare.
 */
export function splitValidation<E extends { label: number }>(
  examples: readonly E[],
  fraction: number,
  random: Rng,
): { train: E[]; validation: E[] } {
  const train: E[] = [];
  const validation: E[] = [];
  for (let label = 0; label < EMOTIONS.length; label++) {
    const ofClass = shuffle(
      random,
      examples.filter((e) => e.label === label),
    );
    const cut = Math.round(ofClass.length * fraction);
    validation.push(...ofClass.slice(0, cut));
    train.push(...ofClass.slice(cut));
  }
  return { train, validation };
}

export interface PixelSpec {
  inputSize: number;
  channels: 1 | 3;
}

/**
 * One image as the paper CNN takes it: in the model's channels (Rec. 601 gray), its centre square resized
 * to inputSize², pixels / 255. Training and `fer-dag serve` both go through here, so a face cut from a
 * video frame reaches the model exactly as the training images did.
 */
export function modelPixels(image: Raster, spec: PixelSpec): Float32Array {
  const raster = resizeSquare(toChannels(image, spec.channels), spec.inputSize, 'cover');
  const pixels = new Float32Array(raster.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (raster.data[i] as number) / 255;
  return pixels;
}

/**
 * Decodes blobs into model input (gray or RGB, inputSize², pixels / 255) on the fly, keeping the most
 * recently used decoded images in a cache bounded in megabytes, so 70,000 images need not fit in memory
 * and a small dataset is decoded once for all epochs.
 */
export class PixelSource {
  private readonly cache: LRUCache<Hash, Float32Array>;

  constructor(
    private readonly readBlob: (hash: Hash) => Buffer,
    private readonly spec: PixelSpec,
    cacheMegabytes: number,
  ) {
    this.cache = new LRUCache<Hash, Float32Array>({
      maxSize: Math.max(1, cacheMegabytes) * 1024 * 1024,
      sizeCalculation: (pixels) => pixels.byteLength,
    });
  }

  get exampleSize(): number {
    return this.spec.inputSize * this.spec.inputSize * this.spec.channels;
  }

  async pixels(blob: Hash): Promise<Float32Array> {
    const cached = this.cache.get(blob);
    if (cached) return cached;
    const pixels = modelPixels(await decodeImage(this.readBlob(blob)), this.spec);
    this.cache.set(blob, pixels);
    return pixels;
  }

  /** A batch in NHWC order; `flip[i]` mirrors example i left to right (the paper's augmentation). */
  async batch(examples: readonly Example[], flip?: readonly boolean[]): Promise<Batch> {
    const { inputSize: size, channels } = this.spec;
    const x = new Float32Array(examples.length * this.exampleSize);
    const labels = new Int32Array(examples.length);
    for (let i = 0; i < examples.length; i++) {
      const example = examples[i] as Example;
      const pixels = await this.pixels(example.blob);
      const base = i * this.exampleSize;
      if (flip?.[i]) {
        const row = size * channels;
        for (let y = 0; y < size; y++) {
          for (let col = 0; col < size; col++) {
            for (let c = 0; c < channels; c++)
              x[base + y * row + col * channels + c] = pixels[y * row + (size - 1 - col) * channels + c] as number;
          }
        }
      } else {
        x.set(pixels, base);
      }
      labels[i] = example.label;
    }
    return { x, labels };
  }
}
