import { createHash } from 'node:crypto';
import type { Emotion } from '../datasets/vocabulary.js';
import type { Hole } from './select.js';
import type { Subgroup, SynthesisRequest } from './types.js';

/**
 * Per emotion, a prompt with `<person>` where the subgroup's words go (defaults in the stage's schema; paper.yaml:
 * the paper's Table 11).
 */
export type PromptTemplates = Record<Emotion, string>;

/** "asian old female", the paper's order: ethnicity, age, gender. */
export function personPhrase(subgroup: Subgroup, words: Record<string, string> = {}): string {
  return [subgroup.ethnicity, subgroup.age, subgroup.gender].map((w) => words[w] ?? w).join(' ');
}

export function promptFor(
  templates: PromptTemplates,
  emotion: Emotion,
  subgroup: Subgroup,
  words?: Record<string, string>,
): string {
  const template = templates[emotion];
  if (!template.includes('<person>'))
    throw new Error(`the prompt template for ${emotion} has no <person> to replace: "${template}"`);
  return template.replaceAll('<person>', personPhrase(subgroup, words));
}

/** A seed for one attempt at one hole, from the stage's seed and where the hole is: reruns ask for the same images. */
export function attemptSeed(
  stageSeed: number,
  where: { source: string; emotion: string; subgroup: string; slot: number },
  attempt: number,
): number {
  const digest = createHash('sha256')
    .update(JSON.stringify([stageSeed, where.source, where.emotion, where.subgroup, where.slot, attempt]))
    .digest();
  return digest.readUInt32LE(0) & 0x7fffffff;
}

/** A subgroup's three values from its name, `gender-age-ethnicity`. */
export function subgroupFromName(name: string): Subgroup {
  const [gender, age, ethnicity] = name.split('-') as [Subgroup['gender'], Subgroup['age'], Subgroup['ethnicity']];
  return { gender, age, ethnicity };
}

/** What is asked of the synthesizer for one attempt at one hole. */
export function holeRequest(
  p: {
    prompts: { templates: PromptTemplates; negative: string; words: Record<string, string> };
    width: number;
    height: number;
    steps: number;
  },
  stageSeed: number,
  hole: Hole,
  attempt: number,
): SynthesisRequest {
  const subgroup = subgroupFromName(hole.subgroup);
  return {
    prompt: promptFor(p.prompts.templates, hole.emotion, subgroup, p.prompts.words),
    negativePrompt: p.prompts.negative,
    seed: attemptSeed(stageSeed, hole, attempt),
    width: p.width,
    height: p.height,
    steps: p.steps,
    emotion: hole.emotion,
    subgroup,
  };
}
