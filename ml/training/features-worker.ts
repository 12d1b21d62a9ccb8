// Worker thread for transfer learning: decodes images and runs the frozen backbone on them.
import { decodeImage } from '../../datasets/images/prepare.js';
import { toChannels } from '../../datasets/images/raster.js';
import { extractFeatures, type BackboneName } from '../architectures/backbone.js';
import { PlannedModels, type ModelPlan, type RuntimeParams } from '../human/plan.js';
import { selectBackend, type BackendChoice } from '../runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';

export interface FeaturesRequest {
  backbone: BackboneName;
  backend: BackendChoice;
  runtime: RuntimeParams;
  /** Worker threads running at once, to split the cores between their sessions. */
  workers: number;
  plan: ModelPlan;
  images: Uint8Array[];
}

export type FeaturesReply = Array<Float32Array | { error: string }>;

const loaded = new PlannedModels();

serveRequests<FeaturesRequest, FeaturesReply>(async ({ backbone, backend, runtime, workers, plan, images }) => {
  await selectBackend(backend);
  const model = await loaded.get(plan, runtime, workers);
  const decoded: FeaturesReply = [];
  const rasters = [];
  for (const bytes of images) {
    try {
      const raster = toChannels(await decodeImage(bytes), 3);
      rasters.push({ pixels: raster.data, width: raster.width, height: raster.height, channels: 3 as const });
      decoded.push(new Float32Array(0));
    } catch (error) {
      decoded.push({ error: `cannot decode: ${(error as Error).message}` });
    }
  }
  const features = rasters.length ? await extractFeatures(model, backbone, rasters) : [];
  let next = 0;
  const result = decoded.map((d) => (d instanceof Float32Array ? (features[next++] as Float32Array) : d));
  return { result, transfer: result.flatMap((r) => (r instanceof Float32Array ? [r.buffer as ArrayBuffer] : [])) };
});
