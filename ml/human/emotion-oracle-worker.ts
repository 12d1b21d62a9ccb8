// Worker thread for the emotion oracle: decodes images and runs human-models' `emotion` graph on them.
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { FaceImage } from '../architectures/backbone.js';
import { decodeFaceImage } from './face-image.js';
import { loadHumanModel } from './models.js';
import { selectBackend } from '../runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import {
  EMOTION_ORACLE_MODEL,
  emotionScores,
  type EmotionOracleReply,
  type EmotionOracleRequest,
} from './emotion-oracle.js';

let model: Promise<GraphModel> | undefined;

serveRequests<EmotionOracleRequest, EmotionOracleReply>(async ({ backend, images }) => {
  await selectBackend(backend);
  model ??= loadHumanModel(EMOTION_ORACLE_MODEL);
  const loaded = await model;
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
  const scores = faces.length ? emotionScores(loaded, faces) : [];
  let next = 0;
  const result = decoded.map((d) => (d instanceof Float32Array ? (scores[next++] as Float32Array) : d));
  return { result, transfer: result.flatMap((r) => (r instanceof Float32Array ? [r.buffer as ArrayBuffer] : [])) };
});
