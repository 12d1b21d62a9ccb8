import type { InferenceModel } from '../ml/inference/model.js';
import type { Raster } from '../datasets/images/raster.js';
import type { FaceClassifier } from './classifier.js';
import { cropFace, findFaces, type FaceOptions } from './faces.js';
import { imageFrame, MediaError, videoFrames, type Frame, type MediaInfo } from './media.js';
import {
  emotionShares,
  round,
  summarisePeople,
  type FaceResult,
  type FrameResult,
  type PersonSummary,
} from './summary.js';
import { FaceTracker, type Box } from './track.js';

export interface AnalysisOptions extends FaceOptions {
  /** Frames sampled per second of video. */
  fps: number;
  /** Frames are decoded with their long side at most this (faces are found on 256×256 anyway). */
  maxSide: number;
  /** Faces classified per model call. */
  batchSize: number;
  /** An image's or frame's pixels, and seconds of video, decoded at most (checked from the header first). */
  maxPixels: number;
  maxDuration: number;
}

export interface Analysis {
  kind: MediaInfo['kind'];
  model: string;
  fps: number;
  width: number;
  height: number;
  duration: number;
  classes: string[];
  frames: FrameResult[];
  people: PersonSummary[];
  emotions: Record<string, number>;
  /** Frames analysed, faces found, and what was skipped. */
  counts: { frames: number; faces: number };
  warnings: string[];
  timings: { seconds: number; decodeAndDetect: number; classify: number };
}

export interface Models {
  detector: InferenceModel;
  classifier: FaceClassifier;
}

export type Progress = (done: number, total: number) => void;

interface PendingFace {
  frame: FrameResult;
  crop: Raster;
  box: Box;
  person: number;
  detection: number;
}

/**
 * Finds, tracks and labels every face of a video (sampled at `fps`) or an image. Detection runs frame by
 * frame (blazeface takes one image a call); classification waits until `batchSize` crops are queued and
 * runs them in one call. Between frames the event loop gets a turn, so the server answers while it works.
 */
export async function analyzeMedia(
  file: string,
  info: MediaInfo,
  models: Models,
  options: AnalysisOptions,
  progress: Progress,
  signal?: AbortSignal,
): Promise<Analysis> {
  const started = performance.now();
  const classes = [...models.classifier.classes];
  const frames: FrameResult[] = [];
  const warnings: string[] = [];
  let classifyMs = 0;
  let faces = 0;
  const pending: PendingFace[] = [];
  const flush = async () => {
    if (!pending.length) return;
    const t0 = performance.now();
    const probabilities = await models.classifier.classify(pending.map((p) => p.crop));
    classifyMs += performance.now() - t0;
    pending.forEach((p, i) => {
      const row = probabilities[i] as Float32Array;
      let best = 0;
      for (let c = 1; c < row.length; c++) if ((row[c] as number) > (row[best] as number)) best = c;
      const face: FaceResult = {
        box: p.box,
        person: p.person,
        emotion: classes[best] as string,
        score: round(row[best] as number),
        scores: Object.fromEntries(classes.map((c, k) => [c, round(row[k] as number)])),
        detection: round(p.detection),
      };
      p.frame.faces.push(face);
    });
    pending.length = 0;
  };

  const step = info.kind === 'video' ? 1 / options.fps : 1;
  const tracker = new FaceTracker(0.3, Math.max(1, Math.round(options.fps)));
  let width: number,
    height: number,
    source: AsyncIterable<Frame> | Frame[],
    warning = (): string | undefined => undefined;
  if (info.kind === 'image') {
    const image = await imageFrame(file, options.maxSide, options.maxPixels);
    ({ width, height } = image);
    source = [image.frame];
  } else {
    const decode = { demuxer: info.demuxer, maxDuration: options.maxDuration, signal };
    const video = await videoFrames(file, options.fps, options.maxSide, decode);
    ({ width, height } = video);
    source = video.frames;
    warning = video.warning;
  }
  const decodedSeconds = Math.min(info.duration, options.maxDuration);
  const expected = info.kind === 'image' ? 1 : Math.max(1, Math.ceil(decodedSeconds * options.fps));
  let decoded = 0;
  for await (const frame of source) {
    signal?.throwIfAborted();
    const result: FrameResult = { t: round(frame.t), faces: [] };
    frames.push(result);
    const found = await findFaces(models.detector, frame.raster, options);
    const boxes = found.map((f) => f.box.map((v) => Math.round(v * frame.scale)) as Box);
    const people = tracker.assign(frame.index, boxes);
    for (const [i, face] of found.entries()) {
      pending.push({
        frame: result,
        crop: cropFace(frame.raster, face.box),
        box: boxes[i] as Box,
        person: people[i] as number,
        detection: face.score,
      });
      if (pending.length >= options.batchSize) await flush();
    }
    faces += found.length;
    decoded++;
    progress(decoded, Math.max(expected, decoded));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await flush();
  const stopped = warning();
  if (stopped) warnings.push(stopped);
  if (!frames.length) throw new MediaError('the video has no frames to analyse', 422);
  if (!faces) {
    const what = info.kind === 'image' ? 'the image' : `${frames.length} frames sampled at ${options.fps} fps`;
    throw new MediaError(
      `no faces found in ${what} (faces scoring below ${options.minConfidence} are not counted; faces under about 1/20 of the frame's long side are found only when the server runs with --tiles)`,
      422,
    );
  }
  for (const frame of frames) frame.faces.sort((a, b) => a.person - b.person);
  const seconds = (performance.now() - started) / 1000;
  return {
    kind: info.kind,
    model: models.classifier.stage,
    fps: info.kind === 'video' ? options.fps : 0,
    width,
    height,
    duration: round(info.kind === 'video' ? Math.max(info.duration, frames.length * step) : 0),
    classes,
    frames,
    people: summarisePeople(frames, classes, step, 1.5 * step),
    emotions: emotionShares(frames, classes),
    counts: { frames: frames.length, faces },
    warnings,
    timings: {
      seconds: round(seconds, 2),
      decodeAndDetect: round(seconds - classifyMs / 1000, 2),
      classify: round(classifyMs / 1000, 2),
    },
  };
}
