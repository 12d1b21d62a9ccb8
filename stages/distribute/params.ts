import type { DistributeEntry } from '../../schemas/types/distribute.js';

/** The distribute params, typed from schemas/stages/distribute.schema.json with its defaults filled in. */
export type DistributeParams = DistributeEntry['params'];
