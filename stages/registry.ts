import { stageRegistry, type AnyStageDefinition } from '../engine/stage.js';
import { agrStage } from './agr/stage.js';
import { balanceWithSynthesisStage } from './balance-with-synthesis/stage.js';
import { commandStage } from './command/stage.js';
import { crossEvaluateStage } from './cross-evaluate/stage.js';
import { distributeStage } from './distribute/stage.js';
import { generateFacesStage } from './generate-faces/stage.js';
import { mergeStage } from './merge/stage.js';
import { qualityStage } from './quality/stage.js';
import { reclassifyInputsStage } from './reclassify-inputs/stage.js';
import { reportStage } from './report/stage.js';
import { synthesizeStage } from './synthesize/stage.js';
import { trainStage } from './train/stage.js';

/** The stage types fer-dag ships; a test or an embedding program may add its own beside them. */
export const builtInStages: readonly AnyStageDefinition[] = [
  commandStage,
  mergeStage,
  qualityStage,
  generateFacesStage,
  reclassifyInputsStage,
  agrStage,
  distributeStage,
  balanceWithSynthesisStage,
  synthesizeStage,
  crossEvaluateStage,
  reportStage,
  trainStage,
];

export const builtInRegistry = stageRegistry(builtInStages);
