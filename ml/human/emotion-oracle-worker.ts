// Worker thread for the emotion oracle: decodes images and runs human-models' `emotion` graph on them.
import type { FaceImage } from '../architectures/backbone.js';
import { decodeFaceImage } from './face-image.js';
import { PlannedModels } from './plan.js';
import { selectBackend } from '../runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { emotionScores, type EmotionOracleReply, type EmotionOracleRequest } from './emotion-oracle.js';

const models = new PlannedModels();

serveRequests<EmotionOracleRequest, EmotionOracleReply>(async ({ backend, runtime, workers, plan, images }) => {
  await selectBackend(backend);
  const loaded = await models.get(plan, runtime, workers);
  const decoded: EmotionOracleReply = [];
  const faces: FaceImage[] = [];
  for (const bytes of images) {
    try {
      faces.push(await decodeFaceImage(bytes));
      decoded.push(new Float32Array(0));
    } catch (error) {
      decoded.push({ error: `cannot decode: ${(error as Error).message}` });
    }
  }
  const scores = faces.length ? await emotionScores(loaded, faces) : [];
  let next = 0;
  const result = decoded.map((d) => (d instanceof Float32Array ? (scores[next++] as Float32Array) : d));
  return { result, transfer: result.flatMap((r) => (r instanceof Float32Array ? [r.buffer as ArrayBuffer] : [])) };
});
