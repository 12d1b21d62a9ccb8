import type { AgrEntry } from '../../schemas/types/agr.js';

/** The agr params, typed from schemas/stages/agr.schema.json with its defaults filled in. */
export type AgrParams = AgrEntry['params'];
