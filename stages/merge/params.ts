import type { MergeEntry } from '../../schemas/types/merge.js';

/** The merge params, typed from schemas/stages/merge.schema.json with its defaults filled in. */
export type MergeParams = MergeEntry['params'];
