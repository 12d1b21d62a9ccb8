import type { Store } from '../cache/store.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import { storeModelStore } from '../ml/human/inference.js';
import { describePlans, planHumanModels, PlannedModels, type RuntimeParams } from '../ml/human/plan.js';
import { selectBackend, type Runtime } from '../ml/runtime.js';
import type { Models } from './analyze.js';
import { loadFaceClassifier } from './classifier.js';
import { HUMAN_FRAMING, measureFraming, MIN_FRAMING_FACES, type Framing } from './framing.js';
import { servedModel, type ServedModel } from './model-source.js';

export interface Serving {
  served: ServedModel;
  models: Models;
  framing: Framing;
  runtime: Runtime;
  /** Where the face models run, in words (describePlans). */
  inference: string;
}

/**
 * Everything a server needs from a pipeline's store: the train stage's model, blazeface, and the framing of
 * the model's training images (or a fixed centred crop of `cropScale` face boxes when one is given).
 */
export async function loadServing(
  pipeline: Pipeline,
  store: Store,
  stage: string,
  recordOf: Parameters<typeof servedModel>[3],
  cropScale?: number,
  inference: RuntimeParams = { provider: 'cpu', threads: 0 },
): Promise<Serving> {
  const served = await servedModel(pipeline, store, stage, recordOf);
  const runtime = await selectBackend('auto');
  const plans = await planHumanModels(['blazeface'], inference, runtime.backend, storeModelStore(store));
  const detector = await new PlannedModels().get(plans.blazeface!, inference, 1);
  const classifier = await loadFaceClassifier(served.view, inference);
  let framing: Framing;
  if (cropScale !== undefined) {
    framing = { scale: cropScale, dx: 0, dy: 0, from: `--crop-scale ${cropScale} (centred on the face box)` };
  } else {
    const measured = await measureFraming(detector, served.trainingSample);
    framing = measured.framing ?? {
      ...HUMAN_FRAMING,
      from: `${HUMAN_FRAMING.from}: only ${measured.found} of ${measured.measured} training images showed a face to blazeface (${MIN_FRAMING_FACES} needed to measure)`,
    };
  }
  const inferenceWords = `${describePlans(plans)}; ${served.stage} on ${classifier.runtime}`;
  return { served, models: { detector, classifier }, framing, runtime, inference: inferenceWords };
}
