import type { CrossEvaluateEntry } from '../../schemas/types/cross-evaluate.js';

/** The cross-evaluate params, typed from schemas/stages/cross-evaluate.schema.json with its defaults filled in. */
export type CrossEvaluateParams = CrossEvaluateEntry['params'];
