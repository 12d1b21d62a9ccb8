import { execa } from 'execa';
import { seededRandom } from '../lib/random.js';
import type { Emotion } from '../datasets/vocabulary.js';
import { renderFace } from '../synth/faces/render.js';
import { STYLES, type StyleName } from '../synth/faces/styles.js';

export interface SceneFace {
  emotion: Emotion;
  /**
   * The face's square at t = 0 (top-left corner and side, in video pixels): framed as the style frames a
   * training image. The drawing extends past it (shoulders, the style's background) as a scene would.
   */
  x: number;
  y: number;
  size: number;
  /** How far it drifts, in pixels, over the video: to and fro along a slow sine. */
  drift: [number, number];
}

export interface SceneVideo {
  file: string;
  width: number;
  height: number;
  fps: number;
  seconds: number;
  faces: SceneFace[];
}

/** The drawing around each face is this much larger than its square. */
const SURROUND = 1.6;

/** Where face `k`'s square is at time `t`: what a face finder framing as training did should find. */
export function tileAt(video: SceneVideo, k: number, t: number): [number, number, number, number] {
  const face = video.faces[k] as SceneFace;
  const phase = Math.sin((2 * Math.PI * t) / Math.max(video.seconds, 1e-9));
  return [Math.round(face.x + face.drift[0] * phase), Math.round(face.y + face.drift[1] * phase), face.size, face.size];
}

/**
 * Renders a video of generated faces (one drawing per face, each in `style`'s look) moving a little over a
 * plain background, encoded by ffmpeg from raw frames on a pipe: H.264 in MP4, or VP8 in WebM. The tests and the
 * serve benchmark use it as footage whose faces are known. `ffmpeg` is the binary to run (serve/ffmpeg.ts finds
 * one): a library does not go looking for programs.
 */
export async function renderFaceVideo(options: {
  file: string;
  faces: SceneFace[];
  width: number;
  height: number;
  fps: number;
  seconds: number;
  style: StyleName;
  seed: number;
  codec?: 'h264' | 'vp8';
  ffmpeg: string;
}): Promise<SceneVideo> {
  const { width, height, fps, seconds, style } = options;
  const rng = seededRandom(options.seed, 'face-video');
  const tiles = [];
  // The same drawing at 1/SURROUND zoom on a SURROUND-times larger canvas: the face is as large as in a
  // `size` image of the style, centred on the same point, with more of its scene around it.
  const wider = { ...STYLES[style], zoom: STYLES[style].zoom / SURROUND };
  for (const face of options.faces) {
    const side = Math.round(face.size * SURROUND);
    tiles.push({ ...(await renderFace(wider, side, rng, face.emotion)), margin: Math.round((side - face.size) / 2) });
  }
  const video: SceneVideo = { file: options.file, width, height, fps, seconds, faces: options.faces };
  const background = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++)
      background.set([70 + Math.round((60 * x) / width), 90, 110 + Math.round((50 * y) / height)], (y * width + x) * 3);
  }
  const encoder =
    options.codec === 'vp8'
      ? ['-c:v', 'libvpx', '-b:v', '1M', '-deadline', 'realtime', '-cpu-used', '8']
      : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'];
  const child = execa(options.ffmpeg, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${width}x${height}`,
    '-r',
    String(fps),
    '-i',
    'pipe:0',
    ...encoder,
    options.file,
  ]);
  const frameCount = Math.round(seconds * fps);
  for (let n = 0; n < frameCount; n++) {
    const frame = Buffer.from(background);
    tiles.forEach((tile, k) => {
      const [faceLeft, faceTop] = tileAt(video, k, n / fps);
      const [left, top, size] = [faceLeft - tile.margin, faceTop - tile.margin, tile.size];
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const [fx, fy] = [left + x, top + y];
          if (fx < 0 || fy < 0 || fx >= width || fy >= height) continue;
          const from = (y * size + x) * tile.channels;
          const to = (fy * width + fx) * 3;
          for (let c = 0; c < 3; c++) frame[to + c] = tile.pixels[from + (tile.channels === 3 ? c : 0)] as number;
        }
      }
    });
    if (!child.stdin!.write(frame)) await new Promise((resolve) => child.stdin!.once('drain', resolve));
  }
  child.stdin!.end();
  await child;
  return video;
}
