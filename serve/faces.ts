import type { GraphModel } from '@tensorflow/tfjs-converter';
import { detectFaces } from '../stages/agr/blazeface.js';
import type { Raster } from '../stages/images/raster.js';
import { frameBox, HUMAN_FRAMING, type Framing } from './framing.js';

export type Box = [number, number, number, number];

export interface FaceOptions {
  /** Faces blazeface scores below this are not reported (human's default: 0.5). */
  minConfidence: number;
  /** At most this many faces per frame. */
  maxFaces: number;
  /** How the crop the model sees is cut around the detector's box (see framing.ts). */
  framing: Framing;
}

export const DEFAULT_FACE_OPTIONS: FaceOptions = { minConfidence: 0.5, maxFaces: 20, framing: HUMAN_FRAMING };

export interface FoundFace {
  /** The square crop, in the frame's pixels (it may reach past the edges). */
  box: Box;
  score: number;
}

/**
 * The faces of one frame. A wide frame is padded to a square before blazeface's 256×256 input, so faces keep
 * their shape (stretching a 16:9 frame squeezes them to 56 % of their width and loses some).
 */
export function findFaces(detector: GraphModel, frame: Raster, options: FaceOptions): FoundFace[] {
  if (frame.channels !== 3) throw new Error(`frames must be RGB, got ${frame.channels} channels`);
  const image = { pixels: frame.data, width: frame.width, height: frame.height, channels: 3 as const };
  const faces = detectFaces(detector, image, { minConfidence: options.minConfidence, maxFaces: options.maxFaces, scale: 1 }, 'pad');
  return faces.map((face) => ({ box: frameBox(face.rawBox, options.framing), score: face.score }));
}

/**
 * The crop at the frame's own resolution; where the box reaches past an edge the edge pixels repeat, as the
 * resampler does at borders, rather than black bars no training image had.
 */
export function cropFace(frame: Raster, box: Box): Raster {
  const [left, top, side] = [Math.round(box[0]), Math.round(box[1]), Math.max(1, Math.round(box[2]))];
  const c = frame.channels;
  const data = new Uint8Array(side * side * c);
  const clampX = (x: number) => Math.min(frame.width - 1, Math.max(0, x));
  const clampY = (y: number) => Math.min(frame.height - 1, Math.max(0, y));
  for (let y = 0; y < side; y++) {
    const rowBase = clampY(top + y) * frame.width;
    const inside = left >= 0 && left + side <= frame.width;
    if (inside) {
      data.set(frame.data.subarray((rowBase + left) * c, (rowBase + left + side) * c), y * side * c);
      continue;
    }
    for (let x = 0; x < side; x++) {
      const from = (rowBase + clampX(left + x)) * c;
      for (let k = 0; k < c; k++) data[(y * side + x) * c + k] = frame.data[from + k] as number;
    }
  }
  return { width: side, height: side, channels: frame.channels, data };
}
