import type { AgeBucket, Ethnicity, Gender } from './faces/attributes.js';
import type { Emotion } from '../datasets/vocabulary.js';

/** Who a generated face should be: one of the 40 subgroups. */
export interface Subgroup {
  gender: Gender;
  age: AgeBucket;
  ethnicity: Ethnicity;
}

/** One image to generate; every field shapes the image, so all of them key the generation memo. */
export interface SynthesisRequest {
  prompt: string;
  negativePrompt: string;
  seed: number;
  width: number;
  height: number;
  steps: number;
  /** What the prompt asks for, for synthesizers that draw rather than read prompts (procedural). */
  emotion: Emotion;
  subgroup: Subgroup;
  /** The dataset whose hole this is: set only for synthesizers that draw per source (`bySource`). */
  source?: string;
}

/**
 * Why an image could not be generated (after the synthesizer's own retries): kept per image, never fatal to the
 * stage.
 */
export class SynthesisError extends Error {}

export interface Synthesizer {
  /**
   * Names the generator and every setting that changes its images (a model, a server's checkpoint as the
   * user declares it, a program's path and version): the generation memo is keyed by it.
   */
  readonly identity: string;
  /** How many requests may usefully run at once (a pool of GPU servers: their number times their own limit). */
  readonly concurrency: number;
  /** Draws differently per source (the procedural synthesizer's `looks`): requests then carry `source`. */
  readonly bySource?: boolean;
  /** The encoded image (PNG or JPEG). Throws SynthesisError for a failure of this one image. */
  generate(request: SynthesisRequest, signal: AbortSignal): Promise<Uint8Array>;
  /** Frees what it holds (a child process); called once when the stage is done with it. */
  close?(): Promise<void>;
}
