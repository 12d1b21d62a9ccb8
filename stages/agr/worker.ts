// Worker thread for the agr stage: decodes images and runs the detector and attribute models on them.
import { decodeFaceImage } from '../../ml/human/face-image.js';
import { selectBackend, type BackendChoice } from '../../ml/runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { AGE_MODEL_FILES } from '../../ml/human/attribute-models.js';
import { BLAZEFACE_MODEL } from '../../ml/human/blazeface.js';
import { PlannedModels, type ModelPlan, type RuntimeParams } from '../../ml/human/plan.js';
import {
  predictAttributes,
  type AttributeModels,
  type AttributePrediction,
  type FlaggedImage,
  type PredictItem,
  type PredictOptions,
} from '../../ml/human/predict-attributes.js';

export interface AgrRequest {
  backend: BackendChoice;
  runtime: RuntimeParams;
  /** Worker threads running at once, to split the cores between their sessions. */
  workers: number;
  /** Where each model runs, decided by the stage (planHumanModels). */
  plans: Record<string, ModelPlan>;
  options: PredictOptions;
  /** Encoded image files (PNG, JPEG, … as stored), each with whether to detect its face first. */
  images: Array<{ bytes: Uint8Array; detect: boolean }>;
}

export type AgrResult = AttributePrediction | FlaggedImage | { error: string };

const loaded = new PlannedModels();

serveRequests<AgrRequest, AgrResult[]>(async ({ backend, runtime, workers, plans, options, images }) => {
  await selectBackend(backend);
  const model = (name: string) => {
    const plan = plans[name];
    if (!plan) throw new Error(`agr planned no runtime for the ${name} model`);
    return loaded.get(plan, runtime, workers);
  };
  const models: AttributeModels = { gear: await model('gear') };
  if (images.some((i) => i.detect)) models.blazeface = await model(BLAZEFACE_MODEL);
  if (options.genderModel === 'faceres' || options.ageModel === 'faceres') models.faceres = await model('faceres');
  if (options.ageModel === 'ssrnet') models.ssrnet = await model(AGE_MODEL_FILES.ssrnet);
  const results: AgrResult[] = new Array(images.length);
  const items: PredictItem[] = [];
  const owners: number[] = [];
  for (const [i, { bytes, detect }] of images.entries()) {
    try {
      items.push({ image: await decodeFaceImage(bytes), detect });
      owners.push(i);
    } catch (error) {
      results[i] = { error: `cannot decode: ${(error as Error).message}` };
    }
  }
  (await predictAttributes(models, items, options)).forEach(
    (prediction, k) => (results[owners[k] as number] = prediction),
  );
  return { result: results };
});
