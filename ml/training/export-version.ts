/**
 * The ONNX export's versions, apart from the exporter so the train stage's version (stages/train/stage.ts)
 * is known at CLI start without loading tfjs or protobufjs.
 */

/**
 * Bumped whenever model.onnx could come out different for the same trained weights: the graph written, its
 * metadata, or the backbone converter. It is in the train stage's version and in the file's metadata.
 */
export const ONNX_EXPORT_VERSION = '1';

/**
 * The backbone converter's CONVERTER_VERSION (ml/onnx/from-tfjs-graph.ts) this export version was written
 * with: test/onnx-export.test.ts fails when the two part, so a converter change also bumps the version above.
 */
export const EXPORTED_WITH_CONVERTER = '2';
