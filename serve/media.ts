import { execa } from 'execa';
import sharp from 'sharp';
import type { Raster } from '../stages/images/raster.js';
import { ffmpegPath, probeVideo } from './ffmpeg.js';

/** An upload the server cannot use; `status` is the HTTP status it answers with. */
export class MediaError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export type MediaKind = 'video' | 'image';

export interface MediaInfo {
  kind: MediaKind;
  /** Seconds (0 for an image, or a video whose container does not say). */
  duration: number;
  /** The video codec or image format, as ffmpeg or libvips names it. */
  format: string;
}

/** Image formats libvips decodes here; an animated GIF is read as a video instead. */
const IMAGE_FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff', 'avif', 'heif', 'gif', 'bmp']);

/**
 * Sniffs an upload by its bytes (never by its name or declared type): an image libvips can read, else a
 * video ffmpeg can read, else a 415 naming the file.
 */
export async function probeMedia(file: string, displayName: string): Promise<MediaInfo> {
  const metadata = await sharp(file).metadata().catch(() => undefined);
  if (metadata?.format && IMAGE_FORMATS.has(metadata.format) && (metadata.pages ?? 1) === 1) {
    return { kind: 'image', duration: 0, format: metadata.format };
  }
  const { video, reason } = await probeVideo(file);
  if (!video) {
    throw new MediaError(`"${displayName}" is not a video or an image that can be read (${reason}); upload an MP4, WebM or MOV video, or a JPEG or PNG image`, 415);
  }
  return { kind: 'video', duration: video.duration, format: video.codec };
}

export interface Frame {
  /** Position in the sampled sequence, from 0. */
  index: number;
  /** Seconds from the start of the video. */
  t: number;
  /** RGB pixels, possibly scaled down (see `scale`). */
  raster: Raster;
  /** Original pixels per raster pixel: boxes found in `raster` are multiplied by it. */
  scale: number;
}

/**
 * An image as one frame at t = 0, turned upright by its EXIF orientation as a viewer shows it, decoded once
 * (scaled so its long side is at most `maxSide`); its upright size comes from the header.
 */
export async function imageFrame(file: string, maxSide: number): Promise<{ frame: Frame; width: number; height: number }> {
  const header = await sharp(file).metadata();
  const turned = (header.orientation ?? 1) >= 5; // EXIF 5–8 are the quarter turns
  const [width, height] = turned ? [header.height!, header.width!] : [header.width!, header.height!];
  const { data, info } = await sharp(file).rotate()
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
    .removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const raster = { width: info.width, height: info.height, channels: 3 as const, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  return { frame: { index: 0, t: 0, raster, scale: width / info.width }, width, height };
}

export interface VideoFrames {
  /** Size of the video as played (after rotation metadata), in its own pixels. */
  width: number;
  height: number;
  frames: AsyncGenerator<Frame>;
  /** Set when decoding stopped early on broken data; the frames before it were kept. */
  warning(): string | undefined;
}

/**
 * Samples `fps` frames a second with ffmpeg's fps filter (frame i shows time i / fps), scaled so the long
 * side is at most `maxSide`, as raw RGB on a pipe. The frame size is read from ffmpeg's description of its
 * output before the first byte is consumed, so rotation metadata and odd sizes are handled by ffmpeg.
 */
export async function videoFrames(file: string, fps: number, maxSide: number): Promise<VideoFrames> {
  const fit = `scale='if(gte(iw,ih),min(${maxSide},iw),-2)':'if(gte(iw,ih),-2,min(${maxSide},ih))'`;
  const child = execa(await ffmpegPath(), [
    '-hide_banner', '-nostdin', '-i', file, '-map', '0:v:0', '-an', '-sn',
    '-vf', `fps=${fps},${fit}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ], { reject: false, buffer: false });
  let stderr = '';
  const header = new Promise<{ width: number; height: number; input: [number, number] }>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const output = /Output #0[\s\S]*?Stream #0:0\S*: Video: rawvideo[^\n]*?, (\d+)x(\d+)/.exec(stderr);
      const input = /Input #0[\s\S]*?Stream #0:\d+\S*: Video: [^\n]*?, (\d+)x(\d+)/.exec(stderr);
      if (output) resolve({ width: Number(output[1]), height: Number(output[2]), input: input ? [Number(input[1]), Number(input[2])] : [0, 0] });
    });
    child.then((result) => reject(new MediaError(`ffmpeg could not decode the video: ${lastLine(stderr) || `exit ${result.exitCode}`}`, 422)), reject);
  });
  const { width, height, input } = await header;
  // Rotation metadata swaps the played size; the scale is the same along either side.
  const playedLong = Math.max(input[0], input[1]) || Math.max(width, height);
  const scale = playedLong / Math.max(width, height);
  let warning: string | undefined;
  const frameBytes = width * height * 3;
  async function* frames(): AsyncGenerator<Frame> {
    // Pipe chunks (64 KB) are copied once, straight into the frame they belong to.
    let data = new Uint8Array(frameBytes);
    let filled = 0;
    let index = 0;
    try {
      for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
        for (let offset = 0; offset < chunk.length;) {
          const take = Math.min(frameBytes - filled, chunk.length - offset);
          data.set(chunk.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
          if (filled < frameBytes) continue;
          yield { index, t: index / fps, raster: { width, height, channels: 3, data }, scale };
          index++;
          data = new Uint8Array(frameBytes);
          filled = 0;
        }
      }
      const result = await child;
      if (result.exitCode !== 0) {
        if (index === 0) throw new MediaError(`ffmpeg could not decode any frame: ${lastLine(stderr)}`, 422);
        warning = `decoding stopped after ${index} frames: ${lastLine(stderr)}`;
      }
    } finally {
      if (child.exitCode === null) child.kill();
    }
  }
  return { width: Math.round(width * scale), height: Math.round(height * scale), frames: frames(), warning: () => warning };
}

function lastLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? '';
}
