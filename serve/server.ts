import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import { analyzeMedia, type AnalysisOptions, type Models } from './analyze.js';
import { JobQueue, type Job, type JobEvents } from './jobs.js';
import { MediaError, probeMedia } from './media.js';
import { framesCsv } from './summary.js';

export interface ServerOptions {
  models: Models;
  /** Everything about finding and framing faces; `fps` is the default an upload may override. */
  analysis: AnalysisOptions;
  maxUploadBytes: number;
  /** Where job folders are made (default: the system's temporary folder). */
  tempRoot?: string;
  events?: JobEvents;
}

const PAGE_DIR = new URL('../../serve/page/', import.meta.url);
const PAGE_FILES = { '/': ['index.html', 'text/html; charset=utf-8'], '/app.js': ['app.js', 'text/javascript; charset=utf-8'], '/app.css': ['app.css', 'text/css; charset=utf-8'] } as const;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_FPS = 30;

/** A request the server refuses; the message is shown on the page as is. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The uploaded file's name as shown back: its last path part, printable, at most 120 characters. */
function displayName(filename: string | undefined): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 120);
  return clean || 'upload';
}

function parseFps(value: unknown): number {
  const fps = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(fps) || fps <= 0 || fps > MAX_FPS) {
    throw new HttpError(400, `fps must be a number of frames a second above 0 and at most ${MAX_FPS}, got "${String(value).slice(0, 20)}"`);
  }
  return fps;
}

function megabytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Number((bytes / (1024 * 1024)).toFixed(1))} MB` : `${Math.round(bytes / 1024)} KB`;
}

/**
 * The web application: the page (three files read once at start), `POST /api/analyze`, `GET /api/jobs/:id`
 * and the results as JSON and CSV downloads. Nothing a request sends becomes a path: uploads are written to
 * a fresh temporary folder under a fixed name, and job ids are checked to be UUIDs.
 */
export async function buildServer(options: ServerOptions): Promise<{ app: FastifyInstance; jobs: JobQueue }> {
  const page = Object.fromEntries(Object.entries(PAGE_FILES).map(([route, [file]]) => [route, fs.readFileSync(new URL(file, PAGE_DIR))]));
  const tempRoot = fs.mkdtempSync(path.join(options.tempRoot ?? os.tmpdir(), 'fer-dag-serve-'));
  const jobs = new JobQueue(
    (input, progress, signal) => analyzeMedia(input.file, input.info, options.models, { ...options.analysis, fps: input.fps }, progress, signal),
    50,
    options.events,
  );
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  await app.register(multipart, { limits: { fileSize: options.maxUploadBytes, files: 1, fields: 8, parts: 10 } });

  app.addHook('onClose', async () => {
    await jobs.close();
    fs.rmSync(tempRoot, { recursive: true, force: true });
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof HttpError || error instanceof MediaError) return reply.code(error.status).send({ error: error.message });
    if (error.code === 'FST_REQ_FILE_TOO_LARGE') {
      return reply.code(413).send({ error: `the file is over the upload limit of ${megabytes(options.maxUploadBytes)}; start the server with a larger --max-upload-mb` });
    }
    if (error.code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') return reply.code(400).send({ error: 'send the file as multipart/form-data, in a field named "file"' });
    if (error.code === 'FST_FILES_LIMIT') return reply.code(400).send({ error: 'send one file per request' });
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) process.stderr.write(`fer-dag serve: ${error.stack ?? error.message}\n`);
    return reply.code(status).send({ error: status === 500 ? `internal error: ${error.message}` : error.message });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no such page: ${request.method} ${request.url.slice(0, 100)}` }));

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
    if (!request.isMultipart()) throw new HttpError(400, 'send the file as multipart/form-data, in a field named "file"');
    const dir = fs.mkdtempSync(path.join(tempRoot, 'job-'));
    const file = path.join(dir, 'upload');
    try {
      let name: string | undefined;
      let fps = options.analysis.fps;
      const query = request.query as Record<string, unknown>;
      if (query.fps !== undefined) fps = parseFps(query.fps);
      for await (const part of request.parts()) {
        if (part.type === 'field') {
          if (part.fieldname === 'fps') fps = parseFps(part.value);
          continue;
        }
        if (part.fieldname !== 'file') {
          part.file.resume();
          throw new HttpError(400, `the file must be sent in a field named "file", not "${part.fieldname.slice(0, 40)}"`);
        }
        name = displayName(part.filename);
        await pipeline(part.file, fs.createWriteStream(file));
      }
      if (name === undefined) throw new HttpError(400, 'no file: send the video or image in a multipart field named "file"');
      if (fs.statSync(file).size === 0) throw new HttpError(400, `"${name}" is empty (0 bytes): choose the video or image again`);
      const info = await probeMedia(file, name);
      const job = jobs.submit({ dir, file, name, info, fps });
      return reply.code(202).send({ id: job.id, name: job.name, kind: job.kind });
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  });

  const findJob = (id: string): Job => {
    const job = JOB_ID.test(id) ? jobs.get(id) : undefined;
    if (!job) throw new HttpError(404, `no job "${id.slice(0, 40)}": the id is wrong, or the server restarted or has since run 50 other jobs`);
    return job;
  };
  const downloads = (job: Job) => ({ json: `/api/jobs/${job.id}/result.json`, csv: `/api/jobs/${job.id}/result.csv` });
  const finishedResult = (job: Job) => {
    if (job.state === 'failed') throw new HttpError(job.error!.status, job.error!.message);
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

  app.get('/api/jobs/:id/result.json', async (request, reply) => {
    const job = findJob((request.params as { id: string }).id);
    const result = finishedResult(job);
    return reply.header('content-disposition', 'attachment; filename="expressions.json"').send({ name: job.name, ...result });
  });

  app.get('/api/jobs/:id/result.csv', async (request, reply) => {
    const job = findJob((request.params as { id: string }).id);
    const result = finishedResult(job);
    return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="expressions.csv"').send(framesCsv(result.frames, result.classes));
  });

  return { app, jobs };
}
