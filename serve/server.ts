import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { describeError } from '../engine/debug.js';
import { analyzeMedia, type AnalysisOptions, type Models } from './analyze.js';
import { JobQueue, type Job, type JobEvents } from './jobs.js';
import { MediaError, probeMedia } from './media.js';
import { framesCsv } from './summary.js';

export interface ServerOptions {
  models: Models;
  /** Everything about finding and framing faces; `fps` is the default an upload may override. */
  analysis: AnalysisOptions;
  maxUploadBytes: number;
  /** Seconds a client has to send its headers, its whole request, and may stay silent on a connection. */
  timeouts?: Timeouts;
  /** Where job folders are made (default: the system's temporary folder). */
  tempRoot?: string;
  events?: JobEvents;
  /** One line per thing worth telling the operator (a dropped upload); nothing is logged when absent. */
  log?: (line: string) => void;
}

export interface Timeouts {
  headers: number;
  request: number;
  idle: number;
}

/** The CLI's defaults: a 500 MB upload at 1 MB/s fits in the request timeout. */
export const DEFAULT_TIMEOUTS: Timeouts = { headers: 30, request: 600, idle: 60 };

const PAGE_DIR = new URL('../../serve/page/', import.meta.url);
const PAGE_FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/result-view.js': ['result-view.js', 'text/javascript; charset=utf-8'],
  '/shared.js': ['shared.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
} as const;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_FPS = 30;
// eslint-disable-next-line no-control-regex -- control characters are what a shown file name must not carry
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/** A request the server refuses; the message is shown on the page as is. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The uploaded file's name as shown back: its last path part, printable, at most 120 characters. */
function displayName(filename: string | undefined): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base.replace(CONTROL_CHARACTERS, '').trim().slice(0, 120);
  return clean || 'upload';
}

function parseFps(value: unknown): number {
  const fps = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(fps) || fps <= 0 || fps > MAX_FPS) {
    throw new HttpError(
      400,
      `fps must be a number of frames a second above 0 and at most ${MAX_FPS}, got "${String(value).slice(0, 20)}"`,
    );
  }
  return fps;
}

/**
 * Why reading an upload failed, when the client caused it: it went away or timed out (`dropped`), or sent a
 * body that is not multipart (a 400). Errors of the server's own disk (ENOSPC, EACCES) are neither.
 */
function uploadFailure(error: unknown, request: FastifyRequest): { dropped: string } | HttpError | undefined {
  const e = error as NodeJS.ErrnoException & { statusCode?: number };
  // Refusals with their own status (ours, and the multipart plugin's limits: 413 for a file too large).
  if (error instanceof HttpError || error instanceof MediaError || typeof e.statusCode === 'number') return undefined;
  // `complete`: Node received the whole message; short of that, the client stopped sending or was cut off.
  if (!request.raw.complete || e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return { dropped: e.message || String(error) };
  }
  if (e.syscall) return undefined;
  const fix = 'send the file as multipart/form-data, in a field named "file"';
  return new HttpError(400, `the request body is not valid multipart/form-data (${e.message}); ${fix}`);
}

function megabytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Number((bytes / (1024 * 1024)).toFixed(1))} MB` : `${Math.round(bytes / 1024)} KB`;
}

/**
 * The web application: the page (five files read once at start), `POST /api/analyze`, `GET /api/jobs/:id`,
 * `DELETE /api/jobs/:id` (cancel) and the results as JSON and CSV downloads. Nothing a request sends becomes
 * a path: uploads are written to a fresh temporary folder under a fixed name, and job ids are checked to be
 * UUIDs. A client that is slow to send its headers or its request, or silent, is cut off (Node's
 * headersTimeout, requestTimeout and socket timeout), so slow clients cannot hold connections.
 */
export async function buildServer(options: ServerOptions): Promise<{ app: FastifyInstance; jobs: JobQueue }> {
  const page = Object.fromEntries(
    Object.entries(PAGE_FILES).map(([route, [file]]) => [route, fs.readFileSync(new URL(file, PAGE_DIR))]),
  );
  const tempRoot = fs.mkdtempSync(path.join(options.tempRoot ?? os.tmpdir(), 'fer-dag-serve-'));
  const jobs = new JobQueue(
    (input, progress, signal) =>
      analyzeMedia(input.file, input.info, options.models, { ...options.analysis, fps: input.fps }, progress, signal),
    50,
    options.events,
  );
  const ms = (seconds: number) => Math.max(1, Math.round(seconds * 1000));
  const { headers, request, idle } = options.timeouts ?? DEFAULT_TIMEOUTS;
  const checkEvery = Math.min(ms(Math.min(headers, request)) / 4, 5000);
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    requestTimeout: ms(request),
    connectionTimeout: ms(idle),
    keepAliveTimeout: ms(Math.min(idle, 5)),
    // Closing the server ends every connection, an upload in progress too: a shutdown does not wait on clients.
    forceCloseConnections: true,
    // Node checks the two timeouts every connectionsCheckingInterval (30 s unless told): a quarter of the
    // shortest keeps the overshoot small.
    http: { headersTimeout: ms(Math.min(headers, request)), connectionsCheckingInterval: checkEvery },
  });
  await app.register(multipart, { limits: { fileSize: options.maxUploadBytes, files: 1, fields: 8, parts: 10 } });

  // A forced exit (a second Ctrl-C) skips onClose; the uploads go all the same.
  const removeUploads = () => fs.rmSync(tempRoot, { recursive: true, force: true });
  process.on('exit', removeUploads);
  app.addHook('onClose', async () => {
    await jobs.close();
    removeUploads();
    process.removeListener('exit', removeUploads);
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof HttpError || error instanceof MediaError)
      return reply.code(error.status).send({ error: error.message });
    if (error.code === 'FST_REQ_FILE_TOO_LARGE') {
      return reply.code(413).send({
        error: `the file is over the upload limit of ${megabytes(options.maxUploadBytes)}; start the server with a larger --max-upload-mb`,
      });
    }
    if (error.code === 'FST_INVALID_MULTIPART_CONTENT_TYPE')
      return reply.code(400).send({ error: 'send the file as multipart/form-data, in a field named "file"' });
    if (error.code === 'FST_FILES_LIMIT') return reply.code(400).send({ error: 'send one file per request' });
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) process.stderr.write(`fer-dag serve: ${describeError(error)}\n`);
    return reply.code(status).send({ error: status === 500 ? `internal error: ${error.message}` : error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no such page: ${request.method} ${request.url.slice(0, 100)}` }),
  );

  for (const [route, [, type]] of Object.entries(PAGE_FILES)) {
    app.get(route, (_request, reply) => reply.type(type).header('cache-control', 'no-cache').send(page[route]));
  }

  app.get('/api/info', () => ({
    model: options.models.classifier.stage,
    classes: options.models.classifier.classes,
    defaultFps: options.analysis.fps,
    maxUploadMb: Number((options.maxUploadBytes / (1024 * 1024)).toFixed(1)),
    minConfidence: options.analysis.minConfidence,
    tiles: options.analysis.tiles,
    framing: options.analysis.framing,
  }));

  app.post('/api/analyze', async (request, reply) => {
    if (!request.isMultipart())
      throw new HttpError(400, 'send the file as multipart/form-data, in a field named "file"');
    const client = request.ip;
    const dir = fs.mkdtempSync(path.join(tempRoot, 'job-'));
    const file = path.join(dir, 'upload');
    let name: string | undefined;
    let submitted = false;
    try {
      let fps = options.analysis.fps;
      const query = request.query as Record<string, unknown>;
      if (query.fps !== undefined) fps = parseFps(query.fps);
      try {
        for await (const part of request.parts()) {
          if (part.type === 'field') {
            if (part.fieldname === 'fps') fps = parseFps(part.value);
            continue;
          }
          if (part.fieldname !== 'file') {
            part.file.resume();
            throw new HttpError(
              400,
              `the file must be sent in a field named "file", not "${part.fieldname.slice(0, 40)}"`,
            );
          }
          name = displayName(part.filename);
          await pipeline(part.file, fs.createWriteStream(file));
        }
      } catch (error) {
        const failure = uploadFailure(error, request);
        if (failure instanceof HttpError) throw failure;
        if (failure) {
          const received = fs.existsSync(file) ? `after ${megabytes(fs.statSync(file).size)}` : 'before the file';
          const what = `upload${name ? ` "${name}"` : ''} from ${client} dropped ${received}`;
          options.log?.(`${what}: the client went away or ran past a timeout (${failure.dropped})`);
          request.raw.socket?.destroy();
          return reply.hijack();
        }
        throw error;
      }
      if (name === undefined)
        throw new HttpError(400, 'no file: send the video or image in a multipart field named "file"');
      if (fs.statSync(file).size === 0)
        throw new HttpError(400, `"${name}" is empty (0 bytes): choose the video or image again`);
      const { maxPixels, maxDuration } = options.analysis;
      const info = await probeMedia(file, name, { maxPixels, maxDuration });
      const job = jobs.submit({ dir, file, name, info, fps });
      submitted = true;
      return reply.code(202).send({ id: job.id, name: job.name, kind: job.kind });
    } finally {
      // Refused, dropped or failed: the upload goes now; a submitted one goes when its job ends.
      if (!submitted) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const findJob = (id: string): Job => {
    const job = JOB_ID.test(id) ? jobs.get(id) : undefined;
    if (!job)
      throw new HttpError(
        404,
        `no job "${id.slice(0, 40)}": the id is wrong, or the server restarted or has since run 50 other jobs`,
      );
    return job;
  };
  const downloads = (job: Job) => ({ json: `/api/jobs/${job.id}/result.json`, csv: `/api/jobs/${job.id}/result.csv` });
  const finishedResult = (job: Job) => {
    if (job.state === 'failed') throw new HttpError(job.error!.status, job.error!.message);
    if (job.state === 'cancelled') throw new HttpError(409, `job ${job.id} was cancelled; it has no result`);
    if (job.state !== 'done') throw new HttpError(409, `job ${job.id} is still ${job.state}; its result is not ready`);
    return job.result!;
  };

  app.get('/api/jobs/:id', async (request, reply) => {
    const job = findJob((request.params as { id: string }).id);
    const head = { id: job.id, name: job.name, kind: job.kind, state: job.state, progress: job.progress };
    if (job.state === 'failed') return reply.code(job.error!.status).send({ ...head, error: job.error!.message });
    if (job.state !== 'done') return head;
    return { ...head, ...job.result!, downloads: downloads(job) };
  });

  app.delete('/api/jobs/:id', async (request) => {
    const job = findJob((request.params as { id: string }).id);
    const cancelled = await jobs.cancel(job.id);
    if (!cancelled) {
      const ended = { done: 'finished', cancelled: 'been cancelled' }[job.state as string] ?? 'failed';
      throw new HttpError(409, `job ${job.id} has already ${ended}; there is nothing to cancel`);
    }
    return { id: job.id, name: job.name, kind: job.kind, state: job.state, progress: job.progress };
  });

  app.get('/api/jobs/:id/result.json', async (request, reply) => {
    const job = findJob((request.params as { id: string }).id);
    const result = finishedResult(job);
    return reply
      .header('content-disposition', 'attachment; filename="expressions.json"')
      .send({ name: job.name, ...result });
  });

  app.get('/api/jobs/:id/result.csv', async (request, reply) => {
    const job = findJob((request.params as { id: string }).id);
    const result = finishedResult(job);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="expressions.csv"')
      .send(framesCsv(result.frames, result.classes));
  });

  return { app, jobs };
}
