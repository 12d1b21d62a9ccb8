import { execa } from 'execa';
import { registerGroup, signalGroups, unregisterGroup } from '../lib/process-groups.js';
import sharp from 'sharp';
import type { Raster } from '../datasets/images/raster.js';
import { ffmpegPath, guardedInput, probeVideo } from './ffmpeg.js';
import { sniffFile, type Demuxer } from './sniff.js';

/** An upload the server cannot use; `status` is the HTTP status it answers with. */
export class MediaError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
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
  /** For a video: the one demuxer ffmpeg may read it with, chosen by its magic bytes. */
  demuxer?: Demuxer;
}

/** What the server refuses before decoding anything, from the file's header. */
export interface MediaLimits {
  /** Pixels of an image or of a video frame (width × height). */
  maxPixels: number;
  /** Seconds of video. */
  maxDuration: number;
}

/** The CLI's defaults: 50 megapixels (a 8660×5773 photograph; more than any phone camera), 30 minutes. */
export const DEFAULT_LIMITS: MediaLimits = { maxPixels: 50e6, maxDuration: 30 * 60 };

const SUPPORTED = 'upload an MP4, WebM, MOV, MKV or AVI video, or a JPEG, PNG or WebP image';

/**
 * Sniffs an upload by its magic bytes (never by its name or declared type) and reads its header: an image
 * goes to libvips only, a video to ffmpeg only with the demuxer its bytes name; a playlist or list of files is
 * refused (415), and so is anything else. An image or video frame over `maxPixels`, or a video longer than
 * `maxDuration`, is refused (413) before a pixel is decoded.
 */
export async function probeMedia(file: string, displayName: string, limits = DEFAULT_LIMITS): Promise<MediaInfo> {
  const sniffed = sniffFile(file);
  if (sniffed.kind === 'reference') {
    const why = 'it names other files, and the server reads only the file uploaded; upload the video itself';
    throw new MediaError(`"${displayName}" is ${sniffed.what}: ${why}`, 415);
  }
  if (sniffed.kind === 'unknown') {
    throw new MediaError(`"${displayName}" is not a video or an image that can be read; ${SUPPORTED}`, 415);
  }
  if (sniffed.kind === 'image') {
    // The header only: libvips reads the size without decoding, so a 100000×100000 PNG costs nothing here.
    const header = await sharp(file, { limitInputPixels: false })
      .metadata()
      .catch((error: Error) => {
        const what = `looks like a ${sniffed.format.toUpperCase()} image but cannot be read (${error.message})`;
        throw new MediaError(`"${displayName}" ${what}; ${SUPPORTED}`, 415);
      });
    checkPixels(displayName, header.width ?? 0, header.height ?? 0, limits.maxPixels);
    // An animated GIF is a video: ffmpeg reads it, with the gif demuxer only.
    if (sniffed.format !== 'gif' || (header.pages ?? 1) === 1) {
      return { kind: 'image', duration: 0, format: header.format ?? sniffed.format };
    }
  }
  const demuxer = sniffed.kind === 'video' ? sniffed.demuxer : 'gif';
  const { video, reason } = await probeVideo(file, demuxer);
  if (!video) {
    const container = sniffed.kind === 'video' ? `looks like ${sniffed.container} but ` : '';
    throw new MediaError(`"${displayName}" ${container}has no video ffmpeg can read (${reason}); ${SUPPORTED}`, 415);
  }
  checkPixels(displayName, video.width, video.height, limits.maxPixels);
  if (video.duration > limits.maxDuration) {
    throw new MediaError(
      `"${displayName}" is ${clock(video.duration)} long; this server analyses videos of at most ${clock(limits.maxDuration)} (--max-duration ${limits.maxDuration / 60}): cut it shorter, or start the server with a larger --max-duration`,
      413,
    );
  }
  return { kind: 'video', duration: video.duration, format: video.codec, demuxer };
}

function checkPixels(displayName: string, width: number, height: number, maxPixels: number): void {
  if (width * height <= maxPixels) return;
  throw new MediaError(
    `"${displayName}" is ${width}×${height} pixels (${megapixels(width * height)}); this server takes at most ${megapixels(maxPixels)} (--max-megapixels): scale it down first`,
    413,
  );
}

const megapixels = (pixels: number) => `${Number((pixels / 1e6).toPrecision(3))} megapixels`;

/** 2 h 0 min, 31 min 5 s, 12 s. */
export function clock(seconds: number): string {
  const s = Math.round(seconds);
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return h ? `${h} h ${m} min` : m ? `${m} min${r ? ` ${r} s` : ''}` : `${r} s`;
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
 * (scaled so its long side is at most `maxSide`); its upright size comes from the header. libvips refuses to
 * decode more than `maxPixels` whatever the header said when it was probed.
 */
export async function imageFrame(
  file: string,
  maxSide: number,
  maxPixels = DEFAULT_LIMITS.maxPixels,
): Promise<{ frame: Frame; width: number; height: number }> {
  const header = await sharp(file, { limitInputPixels: maxPixels }).metadata();
  const turned = (header.orientation ?? 1) >= 5; // EXIF 5–8 are the quarter turns
  const [width, height] = turned ? [header.height!, header.width!] : [header.width!, header.height!];
  const { data, info } = await sharp(file, { limitInputPixels: maxPixels })
    .rotate()
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raster = {
    width: info.width,
    height: info.height,
    channels: 3 as const,
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
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

export interface DecodeOptions {
  /** The demuxer probeMedia chose (default: the one the file's magic bytes name). */
  demuxer?: Demuxer;
  /** Seconds decoded at most, whatever the container claims. */
  maxDuration?: number;
  /** Aborting it ends ffmpeg at once (a cancelled job, a server shutting down). */
  signal?: AbortSignal;
}

/**
 * Samples `fps` frames a second with ffmpeg's fps filter (frame i shows time i / fps), scaled so the long
 * side is at most `maxSide`, as raw RGB on a pipe. The frame size is read from ffmpeg's description of its
 * output before the first byte is consumed, so rotation metadata and odd sizes are handled by ffmpeg.
 * ffmpeg leads its own process group (registered, so a forced exit of the server ends it too) and stops at
 * `maxDuration`, so a header that understates the length cannot make the job run longer.
 */
export async function videoFrames(
  file: string,
  fps: number,
  maxSide: number,
  options: DecodeOptions = {},
): Promise<VideoFrames> {
  const demuxer = options.demuxer ?? sniffedDemuxer(file);
  if (!demuxer) throw new MediaError('not a video: its first bytes name no container ffmpeg may read', 415);
  const maxDuration = options.maxDuration ?? DEFAULT_LIMITS.maxDuration;
  const fit = `scale='if(gte(iw,ih),min(${maxSide},iw),-2)':'if(gte(iw,ih),-2,min(${maxSide},ih))'`;
  const { signal } = options;
  signal?.throwIfAborted();
  const child = execa(
    await ffmpegPath(),
    [
      '-hide_banner',
      '-nostdin',
      ...guardedInput(file, demuxer),
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-t',
      String(maxDuration),
      '-vf',
      `fps=${fps},${fit}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { reject: false, buffer: false, detached: true, stdin: 'ignore' },
  );
  // Frames are read only once the header is parsed. If ffmpeg exits first, Node resumes an unread stdout that has
  // no 'readable' listener (child_process flushStdio) and the frames flow away; a listener keeps them buffered,
  // and ffmpeg waits on the full pipe until they are read.
  child.stdout!.on('readable', () => {});
  const pgid = child.pid;
  if (pgid !== undefined) registerGroup(pgid);
  const stop = () => signalGroups('SIGKILL', pgid === undefined ? [] : [pgid]);
  signal?.addEventListener('abort', stop, { once: true });
  void child.finally(() => {
    if (pgid !== undefined) unregisterGroup(pgid);
    signal?.removeEventListener('abort', stop);
  });
  let stderr = '';
  const header = new Promise<{ width: number; height: number; input: [number, number] }>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const output = /Output #0[\s\S]*?Stream #0:0\S*: Video: rawvideo[^\n]*?, (\d+)x(\d+)/.exec(stderr);
      const input = /Input #0[\s\S]*?Stream #0:\d+\S*: Video: [^\n]*?, (\d+)x(\d+)/.exec(stderr);
      if (output)
        resolve({
          width: Number(output[1]),
          height: Number(output[2]),
          input: input ? [Number(input[1]), Number(input[2])] : [0, 0],
        });
    });
    child.then((result) => {
      const failed = new MediaError(
        `ffmpeg could not decode the video: ${lastLine(stderr) || `exit ${result.exitCode}`}`,
        422,
      );
      reject(signal?.aborted ? signal.reason : failed);
    }, reject);
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
      signal?.throwIfAborted();
      if (result.exitCode !== 0) {
        if (index === 0) throw new MediaError(`ffmpeg could not decode any frame: ${lastLine(stderr)}`, 422);
        warning = `decoding stopped after ${index} frames: ${lastLine(stderr)}`;
      } else if (index >= Math.floor(maxDuration * fps)) {
        warning = `only the first ${clock(maxDuration)} were analysed (the server's --max-duration)`;
      }
    } finally {
      if (child.exitCode === null) stop();
    }
  }
  return {
    width: Math.round(width * scale),
    height: Math.round(height * scale),
    frames: frames(),
    warning: () => warning,
  };
}

/** The demuxer a file's magic bytes name: a video container's, or gif for a GIF (animated ones are videos). */
function sniffedDemuxer(file: string): Demuxer | undefined {
  const sniffed = sniffFile(file);
  if (sniffed.kind === 'video') return sniffed.demuxer;
  return sniffed.kind === 'image' && sniffed.format === 'gif' ? 'gif' : undefined;
}

function lastLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? ''
  );
}
