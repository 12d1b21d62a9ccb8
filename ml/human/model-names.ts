import type { Ethnicity } from '../../datasets/vocabulary.js';

// Names and words of agr's models, apart from the code that runs them: the stage registry (loaded by every
// command, `validate` too) needs these and should not pay for loading tfjs.

/** gear's ethnicity outputs, in the model's order (which happens to be the vocabulary's). */
export const GEAR_ETHNICITIES: readonly Ethnicity[] = ['white', 'black', 'asian', 'indian', 'others'];

export type AgeModel = 'faceres' | 'ssrnet' | 'gear';
export const AGE_MODEL_FILES: Record<AgeModel, string> = { faceres: 'faceres', ssrnet: 'age', gear: 'gear' };

/** Words for memo keys: a change here changes every prediction. */
export const ATTRIBUTE_PREPROCESSING =
  'human@151df64d: face crop RGB 0..1; gear cropAndResize [0,0.1,0.9,0.9] to 198 (0..1); faceres resizeBilinear 224 ×255; ssrnet resizeBilinear 64 ×255';

export const BLAZEFACE_MODEL = 'blazeface';
