import type { ReclassifyInputsEntry } from '../../schemas/types/reclassify-inputs.js';

/**
 * The reclassify-inputs params,
 * typed from schemas/stages/reclassify-inputs.schema.json with its defaults filled in.
 */
export type ReclassifyParams = ReclassifyInputsEntry['params'];
