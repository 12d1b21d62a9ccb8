import type { GenerateFacesEntry } from '../../schemas/types/generate-faces.js';

/** The generate-faces params, typed from schemas/stages/generate-faces.schema.json with its defaults filled in. */
export type GenerateFacesParams = GenerateFacesEntry['params'];
