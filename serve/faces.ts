import type { InferenceModel } from '../ml/inference/model.js';
import { detectFaces } from '../ml/human/blazeface.js';
import type { Raster } from '../datasets/images/raster.js';
import { frameBox, type Framing } from './framing.js';
import { intersection, iou, type Box } from './track.js';

export interface FaceOptions {
  /** Faces blazeface scores below this are not reported (human's default: 0.5). */
  minConfidence: number;
  /** At most this many faces per frame. */
  maxFaces: number;
  /** How the crop the model sees is cut around the detector's box (see framing.ts). */
  framing: Framing;
  /**
   * 1: blazeface sees the whole frame. N > 1: also N × N overlapping tiles of it, for faces too small to
   * be found in the whole frame squeezed to 256 pixels (a classroom's back rows); it costs N² + 1 detections.
   */
  tiles: number;
}

/** Neighbouring tiles share this fraction of their size, so a face on a border is whole in one of them. */
const TILE_OVERLAP = 0.3;

export interface FoundFace {
  /** The square crop, in the frame's pixels (it may reach past the edges). */
  box: Box;
  score: number;
}

/**
 * The faces of one frame. A wide frame is padded to a square before blazeface's 256×256 input, so faces keep
 * their shape (stretching a 16:9 frame squeezes them to 56 % of their width and loses some).
 */
export async function findFaces(detector: InferenceModel, frame: Raster, options: FaceOptions): Promise<FoundFace[]> {
  if (frame.channels !== 3) throw new Error(`frames must be RGB, got ${frame.channels} channels`);
  const image = { pixels: frame.data, width: frame.width, height: frame.height, channels: 3 as const };
  const detector1 = { minConfidence: options.minConfidence, maxFaces: options.maxFaces, scale: 1 };
  const found = (await detectFaces(detector, image, detector1, 'pad')).map((f) => ({
    rawBox: f.rawBox,
    score: f.score,
  }));
  if (options.tiles > 1) {
    const n = options.tiles;
    const [tileW, tileH] = [
      Math.min(frame.width, Math.ceil((frame.width / n) * (1 + TILE_OVERLAP))),
      Math.min(frame.height, Math.ceil((frame.height / n) * (1 + TILE_OVERLAP))),
    ];
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++) {
        const left = Math.round((col * (frame.width - tileW)) / (n - 1));
        const top = Math.round((row * (frame.height - tileH)) / (n - 1));
        const tile = cropFace(frame, [left, top, tileW, tileH]);
        for (const f of await detectFaces(
          detector,
          { pixels: tile.data, width: tileW, height: tileH, channels: 3 },
          detector1,
          'pad',
        )) {
          found.push({ rawBox: [f.rawBox[0] + left, f.rawBox[1] + top, f.rawBox[2], f.rawBox[3]], score: f.score });
        }
      }
    }
  }
  return suppressOverlaps(found, options.maxFaces).map((face) => ({
    box: frameBox(face.rawBox, options.framing),
    score: face.score,
  }));
}

/** The share of the smaller box that lies in the other: 1 when one holds the other. */
function containment(a: Box, b: Box): number {
  return intersection(a, b) / Math.max(1e-9, Math.min(a[2] * a[3], b[2] * b[3]));
}

/**
 * Best first, dropping a box that overlaps a better one: the same face found in the frame and in a tile, or
 * in two tiles, where one box may be a little larger and hold the other (low IoU, yet the same face).
 */
function suppressOverlaps<T extends { rawBox: Box; score: number }>(faces: T[], max: number): T[] {
  const kept: T[] = [];
  for (const face of [...faces].sort((a, b) => b.score - a.score)) {
    if (kept.length >= max) break;
    if (kept.every((k) => iou(k.rawBox, face.rawBox) <= 0.3 && containment(k.rawBox, face.rawBox) <= 0.6))
      kept.push(face);
  }
  return kept;
}

/**
 * The box cut out at the frame's own resolution (a face's square crop, or a tile); where it reaches past an
 * edge the edge pixels repeat, as the resampler does at borders, rather than black bars no training image had.
 */
export function cropFace(frame: Raster, box: Box): Raster {
  const [left, top] = [Math.round(box[0]), Math.round(box[1])];
  const [width, height] = [Math.max(1, Math.round(box[2])), Math.max(1, Math.round(box[3]))];
  const c = frame.channels;
  const data = new Uint8Array(width * height * c);
  const clampX = (x: number) => Math.min(frame.width - 1, Math.max(0, x));
  const clampY = (y: number) => Math.min(frame.height - 1, Math.max(0, y));
  const inside = left >= 0 && left + width <= frame.width;
  for (let y = 0; y < height; y++) {
    const rowBase = clampY(top + y) * frame.width;
    if (inside) {
      data.set(frame.data.subarray((rowBase + left) * c, (rowBase + left + width) * c), y * width * c);
      continue;
    }
    for (let x = 0; x < width; x++) {
      const from = (rowBase + clampX(left + x)) * c;
      for (let k = 0; k < c; k++) data[(y * width + x) * c + k] = frame.data[from + k] as number;
    }
  }
  return { width, height, channels: frame.channels, data };
}
