import type { InferenceModel } from '../ml/inference/model.js';
import { detectFaces } from '../ml/human/blazeface.js';
import type { Raster } from '../datasets/images/raster.js';
import { round } from './summary.js';

/**
 * How a training image frames its face, relative to the box blazeface finds in it: the image's side is
 * `scale` box sides, and its centre lies (`dx`, `dy`) box sides from the box's centre (a face box sits
 * below the middle of a portrait: the hair is above it). Crops cut from video frames this way show the
 * model a face as its training images did.
 */
export interface Framing {
  scale: number;
  dx: number;
  dy: number;
  /** Where the numbers come from, for the log and the results. */
  from: string;
}

/** Human's crop for its attribute models (1.4 × the box, centred), about FER2013's tight framing. */
export const HUMAN_FRAMING: Framing = {
  scale: 1.4,
  dx: 0,
  dy: 0,
  from: "human's default (1.4 × the face box, centred)",
};

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** At least this many training images must show a face for the measurement to be used. */
export const MIN_FRAMING_FACES = 8;

/** Training images are measured in the middle of a canvas this many times their size (see below). */
const CANVAS = 3;

/**
 * The image in the middle of a CANVAS-times larger square filled with its border's mean colour. A face that
 * fills blazeface's whole input is boxed differently (and found less often) than one a third of it wide,
 * which is how faces appear in frames: FER2013-style crops measured 1.84 box sides with 10 of 16 faces found
 * as they are, and 1.35–1.41 with 16 of 16 on 2×, 3× and 4× canvases.
 */
function onCanvas(image: Raster): Raster {
  const { width, height, channels } = image;
  const side = CANVAS * Math.max(width, height);
  const border = new Array<number>(channels).fill(0);
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x += y === 0 || y === height - 1 ? 1 : width - 1) {
      for (let c = 0; c < channels; c++) border[c]! += image.data[(y * width + x) * channels + c] as number;
      count++;
    }
  }
  const data = new Uint8Array(side * side * channels);
  for (let p = 0; p < side * side; p++)
    for (let c = 0; c < channels; c++) data[p * channels + c] = Math.round(border[c]! / count);
  const [left, top] = [Math.floor((side - width) / 2), Math.floor((side - height) / 2)];
  for (let y = 0; y < height; y++)
    data.set(
      image.data.subarray(y * width * channels, (y + 1) * width * channels),
      ((top + y) * side + left) * channels,
    );
  return { width: side, height: side, channels, data };
}

/**
 * Measures the framing on training images (square face crops): the median over the images where blazeface
 * finds a face, which is robust to the odd misplaced box. Null when too few show one.
 */
export async function measureFraming(
  detector: InferenceModel,
  images: readonly Raster[],
  minConfidence = 0.3,
): Promise<{ framing: Framing | null; measured: number; found: number }> {
  const scales: number[] = [];
  const dxs: number[] = [];
  const dys: number[] = [];
  for (const image of images) {
    const canvas = onCanvas(image);
    const pixels = {
      pixels: canvas.data,
      width: canvas.width,
      height: canvas.height,
      channels: canvas.channels === 3 ? (3 as const) : (1 as const),
    };
    const [face] = await detectFaces(detector, pixels, { minConfidence, maxFaces: 1, scale: 1 });
    if (!face) continue;
    const [left, top] = [Math.floor((canvas.width - image.width) / 2), Math.floor((canvas.height - image.height) / 2)];
    const [x, y, w, h] = [face.rawBox[0] - left, face.rawBox[1] - top, face.rawBox[2], face.rawBox[3]];
    const side = Math.max(w, h);
    if (side < 4) continue;
    scales.push(Math.max(image.width, image.height) / side);
    dxs.push((image.width / 2 - (x + w / 2)) / side);
    dys.push((image.height / 2 - (y + h / 2)) / side);
  }
  if (scales.length < MIN_FRAMING_FACES) return { framing: null, measured: images.length, found: scales.length };
  return {
    framing: {
      scale: round(median(scales)),
      dx: round(median(dxs)),
      dy: round(median(dys)),
      from: `measured on ${scales.length} of ${images.length} training images`,
    },
    measured: images.length,
    found: scales.length,
  };
}

/** The square crop a detector box stands for under `framing`: [x, y, side, side] in the same pixels. */
export function frameBox(
  rawBox: readonly [number, number, number, number],
  framing: Framing,
): [number, number, number, number] {
  const [x, y, w, h] = rawBox;
  const side = Math.max(w, h);
  const size = side * framing.scale;
  const cx = x + w / 2 + framing.dx * side;
  const cy = y + h / 2 + framing.dy * side;
  const left = Math.round(cx - size / 2);
  const top = Math.round(cy - size / 2);
  return [left, top, Math.round(size), Math.round(size)];
}
