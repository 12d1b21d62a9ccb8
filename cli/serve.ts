import { Store } from '../cache/store.js';
import { CliExit, EXIT_USAGE, freshRecord, loadOrExit } from './common.js';
import { catchInterrupts } from './signals.js';
import { PROVIDERS, ProviderUnavailableError } from '../ml/inference/session.js';

export interface ServeFlags {
  model?: string;
  provider: string;
  port: string;
  host: string;
  maxUploadMb: string;
  fps: string;
  minConfidence: string;
  cropScale?: string;
  tiles: string;
  maxDuration: string;
  maxMegapixels: string;
  headersTimeoutS: string;
  requestTimeoutS: string;
  idleTimeoutS: string;
}

function numberFlag(name: string, value: string, low: number, high: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < low || n > high)
    throw new CliExit(EXIT_USAGE, `--${name} must be a number from ${low} to ${high}, got "${value}"`);
  return n;
}

/**
 * `fer-dag serve`: the paper's web application on a model this pipeline trained. Loads the train stage's
 * model and blazeface, measures how the model's training images frame their faces (so crops from video
 * frames look like them), and serves the page and the API until interrupted. The first Ctrl-C or SIGTERM
 * stops accepting, cancels the jobs (ending ffmpeg), closes the server and removes its temporary folder, then
 * exits 130 or 143; a second one forces the exit.
 */
export async function serveCommand(file: string | undefined, flags: ServeFlags): Promise<number> {
  const port = numberFlag('port', flags.port, 0, 65535);
  const maxUploadMb = numberFlag('max-upload-mb', flags.maxUploadMb, 0.001, 1e6);
  const fps = numberFlag('fps', flags.fps, 0.1, 30);
  const minConfidence = numberFlag('min-confidence', flags.minConfidence, 0.01, 0.99);
  const cropScale = flags.cropScale === undefined ? undefined : numberFlag('crop-scale', flags.cropScale, 0.5, 5);
  const tiles = numberFlag('tiles', flags.tiles, 1, 4);
  if (!Number.isInteger(tiles))
    throw new CliExit(EXIT_USAGE, `--tiles must be a whole number from 1 to 4, got "${flags.tiles}"`);
  const maxDuration = numberFlag('max-duration', flags.maxDuration, 0.01, 24 * 60) * 60;
  const provider = PROVIDERS.find((p) => p === flags.provider);
  if (!provider)
    throw new CliExit(EXIT_USAGE, `--provider must be one of ${PROVIDERS.join(', ')}, got "${flags.provider}"`);
  const maxPixels = numberFlag('max-megapixels', flags.maxMegapixels, 0.01, 1000) * 1e6;
  const timeouts = {
    headers: numberFlag('headers-timeout-s', flags.headersTimeoutS, 0.1, 3600),
    request: numberFlag('request-timeout-s', flags.requestTimeoutS, 0.1, 24 * 3600),
    idle: numberFlag('idle-timeout-s', flags.idleTimeoutS, 0.1, 3600),
  };
  const pipeline = loadOrExit(file);
  const [{ defaultModelStage, ModelChoiceError }, { loadServing }, { buildServer }, { ffmpegPath }] = await Promise.all(
    [
      import('../serve/model-source.js'),
      import('../serve/load.js'),
      import('../serve/server.js'),
      import('../serve/ffmpeg.js'),
    ],
  );
  const ffmpeg = await ffmpegPath().catch((error: Error) => {
    throw new CliExit(1, `fer-dag serve: ${error.message}`);
  });
  const store = new Store(pipeline.storeDir);
  let serving;
  try {
    const stage = flags.model ?? defaultModelStage(pipeline);
    serving = await loadServing(pipeline, store, stage, (name) => freshRecord(pipeline, store, name), cropScale, {
      provider,
      threads: 0,
    });
  } catch (error) {
    if (error instanceof ModelChoiceError) throw new CliExit(EXIT_USAGE, error.message);
    if (error instanceof ProviderUnavailableError) throw new CliExit(1, `fer-dag serve: ${error.message}`);
    throw error;
  } finally {
    store.close();
  }
  const { served, models, framing, inference } = serving;
  const classifier = models.classifier;
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const interrupts = catchInterrupts((signal) =>
    say(`${signal}: stopping (cancelling jobs, removing uploads); again forces`),
  );
  try {
    const { app } = await buildServer({
      models,
      analysis: {
        fps,
        minConfidence,
        maxFaces: 50,
        framing,
        maxSide: 1280,
        batchSize: 64,
        tiles,
        maxPixels,
        maxDuration,
      },
      maxUploadBytes: Math.round(maxUploadMb * 1024 * 1024),
      timeouts,
      log: (line) => say(line),
      events: {
        started: (job) => say(`job ${job.id.slice(0, 8)} "${job.name}": analysing`),
        finished: (job, seconds) => {
          const r = job.result;
          const head = `job ${job.id.slice(0, 8)} "${job.name}"`;
          if (job.state === 'cancelled') return say(`${head}: cancelled after ${seconds.toFixed(1)} s`);
          if (!r) return say(`${head}: failed (${job.error?.status}): ${job.error?.message}`);
          const pace =
            r.kind === 'video' && r.duration ? ` (${(seconds / r.duration).toFixed(2)} × the video's length)` : '';
          say(
            `${head}: ${r.counts.frames} frames, ${r.counts.faces} faces, ${r.people.length} people in ${seconds.toFixed(1)} s${pace}`,
          );
        },
      },
    });
    const url = await app.listen({ port, host: flags.host });
    const meta = classifier.metadata;
    say(
      `model: ${served.stage} (${meta.arch}${meta.backbone ? ` on ${meta.backbone}` : ''}, ${meta.inputSize ? `${meta.inputSize}×${meta.inputSize} ${meta.channels === 1 ? 'gray' : 'RGB'}, ` : ''}${meta.classes.length} classes); ${inference}; faces by blazeface, min confidence ${minConfidence}${tiles > 1 ? `, whole frame and ${tiles}×${tiles} tiles` : ''}`,
    );
    say(
      `framing: crops ${framing.scale}× the face box, centre offset (${framing.dx}, ${framing.dy}) box sides: ${framing.from}`,
    );
    say(`ffmpeg: ${ffmpeg}`);
    process.stdout.write(`serving on ${url.replace('://0.0.0.0', '://127.0.0.1')} (Ctrl-C stops)\n`);
    const { signal } = interrupts;
    if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    // Stops accepting, ends every connection, then (onClose) cancels the jobs and removes the upload folder.
    await app.close();
    say('stopped');
    return interrupts.exitCode(0);
  } finally {
    interrupts.dispose();
  }
}
