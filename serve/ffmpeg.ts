import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { execa } from 'execa';
import { DEMUXERS, type Demuxer } from './sniff.js';

/**
 * The ffmpeg binary: the one `@ffmpeg-installer/ffmpeg` ships inside its npm package (so `npm install` is
 * enough), else an `ffmpeg` on the PATH. Resolved once; `FFMPEG` overrides both.
 */
let resolved: string | undefined;

export async function ffmpegPath(): Promise<string> {
  if (resolved) return resolved;
  const candidates: string[] = [];
  if (process.env.FFMPEG) candidates.push(process.env.FFMPEG);
  try {
    const installer = createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string };
    // npm may install packages without running their postinstall (which sets the execute bit).
    if (fs.existsSync(installer.path)) {
      try {
        fs.accessSync(installer.path, fs.constants.X_OK);
      } catch {
        fs.chmodSync(installer.path, 0o755);
      }
      candidates.push(installer.path);
    }
  } catch {
    // No binary for this platform in the registry package: fall back to the PATH.
  }
  candidates.push('ffmpeg');
  const failures: string[] = [];
  for (const candidate of candidates) {
    const probe = await execa(candidate, ['-hide_banner', '-version'], { reject: false });
    if (probe.exitCode === 0) return (resolved = candidate);
    failures.push(`${candidate}: ${probe.failed && probe.code ? probe.code : `exit ${probe.exitCode}`}`);
  }
  throw new Error(
    `no working ffmpeg (${failures.join('; ')}): run \`npm install\` (it brings @ffmpeg-installer/ffmpeg) or install ffmpeg on the PATH, or set FFMPEG`,
  );
}

/**
 * The input options every ffmpeg run on an upload starts with: the upload is read through the file protocol
 * only (no http, tcp, concat: or subfile:), by the one demuxer its magic bytes chose, and the demuxer list
 * allows real media containers only, so nothing an upload says can make ffmpeg open another file (an HLS
 * playlist, an ffconcat list and an SDP file are each refused twice: by the sniffing and by the whitelist).
 */
export function guardedInput(file: string, demuxer: Demuxer): string[] {
  // QuickTime's data references can name other files; they are off by default, and stay off whatever changes.
  const mov = demuxer === 'mov' ? ['-enable_drefs', '0', '-use_absolute_path', '0'] : [];
  return [
    '-protocol_whitelist',
    'file',
    '-format_whitelist',
    DEMUXERS.join(','),
    '-f',
    demuxer,
    ...mov,
    '-i',
    `file:${file}`,
  ];
}

export interface VideoProbe {
  codec: string;
  /** Seconds; 0 when the container does not say. */
  duration: number;
  /** The first video stream's coded size (0 when ffmpeg does not say). */
  width: number;
  height: number;
}

const PROBE_TIMEOUT_MS = 30_000;

/**
 * What ffmpeg says about the first video stream of `file` read with `demuxer` (`ffmpeg -i` prints the
 * container's header and exits 1 for want of an output, which is what we want: nothing is decoded), or null
 * when it finds no video stream in it.
 */
export async function probeVideo(
  file: string,
  demuxer: Demuxer,
): Promise<{ video: VideoProbe | null; reason: string }> {
  const args = ['-hide_banner', '-nostdin', ...guardedInput(file, demuxer)];
  const options = { reject: false, stripFinalNewline: true, timeout: PROBE_TIMEOUT_MS, stdin: 'ignore' } as const;
  const { stderr, timedOut } = await execa(await ffmpegPath(), args, options);
  if (timedOut) return { video: null, reason: `ffmpeg took over ${PROBE_TIMEOUT_MS / 1000} s to read the header` };
  const stream = /Stream #\d+:\d+\S*: Video: ([\w-]+)(?:[^\n]*?, (\d+)x(\d+))?/.exec(stderr);
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // ffmpeg's own last words name the problem ("Invalid data found when processing input", …).
  const reason = lines.filter((l) => !/At least one output file must be specified/.test(l)).pop() ?? 'no video stream';
  if (!stream) return { video: null, reason: reason.replace(`file:${file}`, 'the file').replace(/^.*?: /, '') };
  const time = /Duration: (\d+):(\d+):(\d+(?:\.\d+)?)/.exec(stderr);
  const duration = time ? Number(time[1]) * 3600 + Number(time[2]) * 60 + Number(time[3]) : 0;
  const [width, height] = [Number(stream[2] ?? 0), Number(stream[3] ?? 0)];
  return { video: { codec: stream[1] as string, duration, width, height }, reason: '' };
}
