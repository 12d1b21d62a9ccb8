import { commandStage } from './command/stage.js';
import { mergeStage } from './merge/stage.js';
import { generateFacesStage } from './generate-faces/stage.js';
import { agrStage } from './agr/stage.js';
import { balanceWithSynthesisStage } from './balance-with-synthesis/stage.js';
import { crossEvaluateStage } from './cross-evaluate/stage.js';
import { distributeStage } from './distribute/stage.js';
import { reclassifyInputsStage } from './reclassify-inputs/stage.js';
import { reportStage } from './report/stage.js';
import { synthesizeStage } from './synthesize/stage.js';
import { trainStage } from './train/stage.js';
import type { StageDefinition } from '../engine/stage.js';

const registry = new Map<string, StageDefinition<unknown>>();

export function registerStage<P>(definition: StageDefinition<P>): void {
  registry.set(definition.type, definition as StageDefinition<unknown>);
}

export function stageDefinition(type: string): StageDefinition<unknown> | undefined {
  return registry.get(type);
}

export function stageTypes(): string[] {
  return [...registry.keys()].sort();
}

registerStage(commandStage);
registerStage(mergeStage);
registerStage(generateFacesStage);
registerStage(reclassifyInputsStage);
registerStage(agrStage);
registerStage(distributeStage);
registerStage(balanceWithSynthesisStage);
registerStage(synthesizeStage);
registerStage(crossEvaluateStage);
registerStage(reportStage);
registerStage(trainStage);
