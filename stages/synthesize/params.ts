import type { SynthesizeEntry } from '../../schemas/types/synthesize.js';

/** The synthesize params, typed from schemas/stages/synthesize.schema.json with its defaults filled in. */
export type SynthesizeParams = SynthesizeEntry['params'];
