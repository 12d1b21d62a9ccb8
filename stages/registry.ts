import { commandStage } from './command.js';
import { mergeStage } from './merge.js';
import { generateFacesStage } from './generate-faces.js';
import { agrStage } from './agr.js';
import { balanceWithSynthesisStage } from './balance-with-synthesis.js';
import { crossEvaluateStage } from './cross-evaluate.js';
import { distributeStage } from './distribute.js';
import { reclassifyInputsStage } from './reclassify-inputs.js';
import { reportStage } from './report.js';
import { synthesizeStage } from './synthesize.js';
import { trainStage } from './train.js';
import type { StageDefinition } from './types.js';

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
