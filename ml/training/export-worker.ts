// Worker thread for the train stage's ONNX export: loads the saved model into tfjs here, so the stage's own
// thread never selects a tfjs backend (stages running beside it in the same process may be using another).
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../runtime.js';
import { serveRequests } from '../../lib/parallel/serve-requests.js';
import { exportTrainedModel, type ExportRequest } from './export-onnx.js';

serveRequests<ExportRequest, Uint8Array>(async ({ model, metadata }) => {
  // Only weights are read: the plain-JS backend gives the same bytes as any other.
  await selectBackend('cpu');
  const loaded = await tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: model.modelTopology as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: model.weightSpecs as tf.io.WeightsManifestEntry[],
      weightData: model.weightData,
    }),
  );
  try {
    const bytes = exportTrainedModel(loaded, metadata);
    return { result: bytes, transfer: [bytes.buffer as ArrayBuffer] };
  } finally {
    loaded.dispose();
  }
});
