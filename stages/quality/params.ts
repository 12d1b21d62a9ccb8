import type { QualityEntry } from '../../schemas/types/quality.js';

/** The quality params, typed from schemas/stages/quality.schema.json with its defaults filled in. */
export type QualityParams = QualityEntry['params'];
