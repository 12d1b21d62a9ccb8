import type { RuntimeParams } from '../ml/human/plan.js';
import type { AgeThresholds } from '../datasets/age-buckets.js';
import type { EntryProblem } from '../engine/stage.js';
import type { AgeBucket, Emotion, Ethnicity, Gender } from '../datasets/vocabulary.js';
import type { DetectorOptions } from '../ml/human/blazeface.js';
import type { BackendChoice } from '../ml/runtime.js';
import type { StyleName } from './faces/styles.js';

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

/** The `synthesizer` param: one object whose `type` says which of its fields apply (the schema fills the defaults). */
export interface SynthesizerSpec {
  type: 'procedural' | 'command' | 'http';
  look: StyleName;
  looks?: Record<string, StyleName>;
  model?: string;
  command?: string[];
  timeoutSeconds: number;
  concurrency: number;
  servers?: string[];
  concurrencyPerServer: number;
  timeoutMs: number;
  attempts: number;
  backoffMs: number;
  extra?: Record<string, unknown>;
}

/** How faces are generated and checked: what balance-with-synthesis and synthesize share of their params. */
export interface SynthesisSettings {
  synthesizer: SynthesizerSpec;
  prompts: { templates: Record<Emotion, string>; negative: string; words: Record<string, string> };
  width: number;
  height: number;
  steps: number;
  maxAttempts: number;
  checks: GenerationChecks;
  detector: DetectorOptions;
  ageBuckets: AgeThresholds;
  backend: BackendChoice;
  runtime: RuntimeParams;
}

/** Which checks a generated image must pass before it is accepted. */
export interface GenerationChecks {
  oneFace: boolean;
  emotion: { enabled: boolean; classifier: string; minScore: number };
  attributes: Array<'gender' | 'age' | 'ethnicity'>;
}

/** A synthesizer of type command needs its command, one of type http its servers. */
export function synthesizerProblems(params: {
  synthesizer: Pick<SynthesizerSpec, 'type' | 'command' | 'servers'>;
}): EntryProblem[] {
  const s = params.synthesizer;
  if (s.type === 'command' && !s.command) {
    return [
      {
        path: ['params', 'synthesizer'],
        message: 'has type command but no command: give command: [program, arg, …]',
      },
    ];
  }
  if (s.type === 'http' && !s.servers) {
    const message =
      'has type http but no servers: give servers: [http://host:port, …] (AUTOMATIC1111 started with --api)';
    return [{ path: ['params', 'synthesizer'], message }];
  }
  return [];
}
