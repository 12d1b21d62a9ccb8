import type { TrainEntry } from '../../schemas/types/train.js';

/** The train params, typed from schemas/stages/train.schema.json with its defaults filled in. */
export type TrainParams = TrainEntry['params'];
