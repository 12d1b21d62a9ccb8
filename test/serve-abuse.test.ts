import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { chromium } from 'playwright-core';
import { ffmpegPath } from '../serve/ffmpeg.js';
import { chromiumPath } from './browser.js';
import { cli, makeProject, waitFor } from './helpers.js';
import { finished, serve, upload, type Served } from './serve-helpers.js';

// The cheapest model serve accepts: a paper CNN an eighth as wide, one epoch on 14 generated faces (about
// 3 s). These tests are about what the server refuses and how it stops, not about what the model says.
const PIPELINE = `version: 1
seed: 3
stages:
  faces: { type: generate-faces, params: { style: nhfi, perClass: 2, size: 48 } }
  merge: { type: merge, inputs: [faces] }
  train: { type: train, input: merge, params: { trainOn: all, epochs: 1, width: 0.125, replicas: 1 } }
`;
// Short timeouts, so a slow client is cut off in seconds. The idle one is longer: a request the server is still
// working on (probing a video under load) is silent too.
const TIMEOUT_S = 2;
const IDLE_TIMEOUT_S = 4;
const STACK_LINE = /^\s+at /m;

let project: string;
let ffmpeg: string;
/** 600 frames at 10 fps: keeps the analyser busy for seconds, long enough to cancel it or stop the server. */
let busy: string;

/** A video made by ffmpeg's lavfi sources (no faces: the server decodes it all the same). */
async function lavfi(file: string, source: string, seconds: number): Promise<string> {
  await execa(ffmpeg, [
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    source,
    '-t',
    String(seconds),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    file,
  ]);
  return file;
}

/** The ffmpeg processes decoding an upload under `tmp` (the server's uploads are the only files there). */
async function ffmpegsUnder(tmp: string): Promise<string[]> {
  const { stdout } = await execa('ps', ['-eo', 'pid=,args=']);
  return stdout.split('\n').filter((line) => line.includes('ffmpeg') && line.includes(tmp));
}

/** The uploads the server holds: the files under its temporary folder (TMPDIR/fer-dag-serve-*). */
function uploadsUnder(tmp: string): string[] {
  const all = fs.readdirSync(tmp, { recursive: true, encoding: 'utf8' });
  return all.filter((rel) => fs.statSync(path.join(tmp, rel)).isFile());
}

/**
 * Opens a raw connection, writes `head`, then one byte of `drip` every `everyMs` until the server closes the
 * connection; resolves with the seconds that took and what the server answered (bounded by `giveUpS`).
 */
function dripFeed(
  url: string,
  head: string,
  drip: string,
  everyMs: number,
  giveUpS: number,
): Promise<{ seconds: number; answer: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect(Number(port), hostname);
    let answer = '';
    let sent = 0;
    const timer = setInterval(() => {
      if ((performance.now() - started) / 1000 > giveUpS) {
        clearInterval(timer);
        socket.destroy();
        reject(new Error(`the server still held the connection after ${giveUpS} s (${sent} bytes sent one by one)`));
      } else if (sent < drip.length && !socket.destroyed) socket.write(drip[sent++]!);
    }, everyMs);
    socket.on('connect', () => socket.write(head));
    socket.on('data', (d) => (answer += d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ seconds: (performance.now() - started) / 1000, answer });
    });
  });
}

before(async () => {
  ffmpeg = await ffmpegPath();
  project = makeProject({ 'p.yaml': PIPELINE });
  const run = await cli(project, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  busy = await lavfi(path.join(project, 'busy.mp4'), 'testsrc=size=160x120:rate=10', 60);
});

after(() => fs.rmSync(project, { recursive: true, force: true }));

describe('fer-dag serve under abuse', () => {
  let server: Served;
  let tmp: string;
  let media: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(project, 'tmp-'));
    media = fs.mkdtempSync(path.join(project, 'media-'));
    server = await serve(
      project,
      [
        '--headers-timeout-s',
        String(TIMEOUT_S),
        '--request-timeout-s',
        String(TIMEOUT_S),
        '--idle-timeout-s',
        String(IDLE_TIMEOUT_S),
        '--max-duration',
        '10',
        '--max-megapixels',
        '50',
      ],
      tmp,
    );
  });

  after(() => {
    server?.child.kill('SIGTERM');
  });

  test('a playlist, a concat list or an SDP file naming a file of the server is a 415, never decoded', async () => {
    // The server's private recording, outside anything an upload can reach.
    const secret = makeProject();
    const meeting = path.join(secret, 'meeting.ts');
    await execa(ffmpeg, ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=5', '-t', '2', meeting]);
    const lists = {
      'meeting.m3u8': `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n${meeting}\n#EXT-X-ENDLIST\n`,
      // Named .mp4: only the bytes count.
      'clip.mp4': `#EXTM3U\n#EXTINF:2.0,\nfile://${meeting}\n`,
      'list.ffconcat': `ffconcat version 1.0\nfile '${meeting}'\n`,
      'relative.ffconcat': `ffconcat version 1.0\nfile 'meeting.ts'\n`,
      'session.sdp': 'v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\n',
    };
    try {
      for (const [name, text] of Object.entries(lists)) {
        fs.writeFileSync(path.join(media, name), text);
        const answer = await upload(server.url, path.join(media, name));
        assert.equal(answer.status, 415, `${name}: ${JSON.stringify(answer.body)}`);
        const refusal = new RegExp(`"${name.replace('.', '\\.')}" is an? .*names other files.*upload the video itself`);
        assert.match(String(answer.body.error), refusal);
      }
      assert.deepEqual(uploadsUnder(tmp), [], 'each refused upload was deleted at once');
    } finally {
      fs.rmSync(secret, { recursive: true, force: true });
    }
  });

  test('a client sending its headers, or its upload, a byte at a time is cut off by the timeouts', async () => {
    const request = 'POST /api/analyze HTTP/1.1\r\n';
    const slowHeaders = await dripFeed(server.url, request, 'Host: x\r\nX-Slow: 1234567890abcdefghij\r\n', 500, 15);
    assert.ok(slowHeaders.seconds < TIMEOUT_S + 2, `headers cut off after ${slowHeaders.seconds.toFixed(1)} s`);
    assert.match(slowHeaders.answer, /^HTTP\/1\.1 408/);

    const body = '--XX\r\nContent-Disposition: form-data; name="file"; filename="slow.mp4"\r\n\r\n';
    const slowBody = await dripFeed(
      server.url,
      `${request}Host: x\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n${body}`,
      'x'.repeat(1000),
      500,
      15,
    );
    assert.ok(slowBody.seconds < TIMEOUT_S + 2, `upload cut off after ${slowBody.seconds.toFixed(1)} s`);

    const silent = await dripFeed(server.url, '', '', 500, 15);
    assert.ok(silent.seconds < IDLE_TIMEOUT_S + 2, `silent connection closed after ${silent.seconds.toFixed(1)} s`);

    await waitFor(() => /upload "slow\.mp4" .*dropped/.test(server.stderr()), 5000, 'the dropped upload logged');
    assert.deepEqual(uploadsUnder(tmp), [], 'the slow upload was deleted');
  });

  test('a video longer than --max-duration is refused from its header, before a frame is decoded', async () => {
    // 95 KB: two hours of 16×16 gray at one frame a second.
    const long = await lavfi(path.join(media, 'two-hours.mp4'), 'color=c=gray:size=16x16:rate=1', 7200);
    const started = performance.now();
    const answer = await upload(server.url, long);
    assert.equal(answer.status, 413, JSON.stringify(answer.body));
    assert.match(
      String(answer.body.error),
      /"two-hours\.mp4" is 2 h 0 min long; this server analyses videos of at most 10 min \(--max-duration 10\)/,
    );
    assert.ok(performance.now() - started < 5000, 'answered from the header, not by decoding');

    const short = await lavfi(path.join(media, 'ten-seconds.mp4'), 'color=c=gray:size=16x16:rate=1', 10);
    const accepted = await upload(server.url, short, { fps: '1' });
    assert.equal(accepted.status, 202, 'a video within the limit is accepted');
    const decoded = await finished(server.url, String(accepted.body.id));
    assert.match(String(decoded.body.error), /no faces found in 10 frames sampled at 1 fps/, 'and decoded whole');
  });

  test('an image declaring 100000×100000 pixels is a 413 naming the limit, never given to ffmpeg', async () => {
    const huge = path.join(media, 'huge.png');
    fs.writeFileSync(huge, pngHeader(100_000, 100_000));
    const answer = await upload(server.url, huge);
    assert.equal(answer.status, 413, JSON.stringify(answer.body));
    assert.match(
      String(answer.body.error),
      /"huge\.png" is 100000×100000 pixels .*at most 50 megapixels \(--max-megapixels\)/,
    );
    // The same bytes that are not a complete PNG are still a PNG to the sniffer: libvips says why, not ffmpeg.
    const broken = path.join(media, 'broken.png');
    fs.writeFileSync(broken, pngHeader(100, 100).subarray(0, 20));
    const refused = await upload(server.url, broken);
    assert.equal(refused.status, 415);
    assert.match(String(refused.body.error), /"broken\.png" looks like a PNG image but cannot be read/);
  });

  test('a malformed multipart body is a 400; a dropped upload is one log line, no stack trace', async () => {
    const malformed = await fetch(`${server.url}/api/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XX' },
      body: '--XX\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\nhalf a fi',
    });
    assert.equal(malformed.status, 400);
    assert.match(((await malformed.json()) as { error: string }).error, /not valid multipart\/form-data/);

    const before = server.stderr().length;
    const { hostname, port } = new URL(server.url);
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(port), hostname, () => {
        socket.write('POST /api/analyze HTTP/1.1\r\nHost: x\r\n');
        socket.write('Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 5000000\r\n\r\n');
        socket.write('--XX\r\nContent-Disposition: form-data; name="file"; filename="gone.mp4"\r\n\r\n');
        socket.write('x'.repeat(200_000));
        setTimeout(() => socket.destroy(), 300);
      });
      socket.on('close', () => resolve());
    });
    await waitFor(() => /gone\.mp4/.test(server.stderr().slice(before)), 5000, 'the dropped upload logged');
    await new Promise((r) => setTimeout(r, 300));
    const logged = server
      .stderr()
      .slice(before)
      .split('\n')
      .filter((line) => line.includes('gone.mp4'));
    assert.equal(logged.length, 1, logged.join('\n'));
    assert.match(logged[0]!, /^upload "gone\.mp4" from \S+ dropped after \d+ KB: the client went away/);
    assert.doesNotMatch(server.stderr(), STACK_LINE);
    assert.deepEqual(uploadsUnder(tmp), []);
  });

  test('DELETE /api/jobs/:id cancels a queued job and a running one: ffmpeg ends, uploads are deleted', async () => {
    const running = await upload(server.url, busy, { fps: '10' });
    const queued = await upload(server.url, busy, { fps: '10' });
    assert.deepEqual([running.status, queued.status], [202, 202]);
    const runningId = String(running.body.id);
    const queuedId = String(queued.body.id);
    for (const deadline = Date.now() + 20_000; ;) {
      const response = await fetch(`${server.url}/api/jobs/${runningId}`);
      const state = (await response.json()) as { state: string; progress: { done: number } };
      if (state.state === 'running' && state.progress.done > 0) break;
      assert.ok(Date.now() < deadline, `the first job did not start: ${JSON.stringify(state)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await ffmpegsUnder(tmp)).length, 1, 'one ffmpeg decodes the running job');

    const cancelQueued = await fetch(`${server.url}/api/jobs/${queuedId}`, { method: 'DELETE' });
    assert.equal(cancelQueued.status, 200);
    assert.equal(((await cancelQueued.json()) as { state: string }).state, 'cancelled');
    const cancelRunning = await fetch(`${server.url}/api/jobs/${runningId}`, { method: 'DELETE' });
    assert.equal(cancelRunning.status, 200);
    const cancelled = (await cancelRunning.json()) as { state: string; progress: { done: number; total: number } };
    assert.equal(cancelled.state, 'cancelled');
    const { done, total } = cancelled.progress;
    assert.ok(done < total, `stopped part way: ${done} of ${total} frames`);

    assert.deepEqual(await ffmpegsUnder(tmp), [], 'its ffmpeg has ended');
    assert.deepEqual(uploadsUnder(tmp), [], 'both uploads are deleted');
    for (const id of [runningId, queuedId]) {
      assert.equal((await finished(server.url, id)).body.state, 'cancelled');
      const result = await fetch(`${server.url}/api/jobs/${id}/result.json`);
      assert.equal(result.status, 409);
    }
    const again = await fetch(`${server.url}/api/jobs/${runningId}`, { method: 'DELETE' });
    assert.equal(again.status, 409, 'a cancelled job cannot be cancelled again');
    assert.match(((await again.json()) as { error: string }).error, /already been cancelled/);

    // The queue is not stuck: a new job runs to its end.
    const next = await upload(server.url, path.join(media, 'ten-seconds.mp4'));
    assert.equal(next.status, 202);
    assert.match(String((await finished(server.url, String(next.body.id))).body.error), /no faces found/);
  });

  test("the page's Cancel button stops a running analysis and says so; the page stays usable", async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(server.url);
      await page.setInputFiles('#file', busy);
      await page.fill('#fps', '10');
      await page.click('#analyze');
      // Running: the page shows how far the analysis is.
      await page.locator('#progress-text', { hasText: /^frame [1-9]\d* of 600$/ }).waitFor({ timeout: 20_000 });
      await page.click('#cancel');
      await page.waitForSelector('#error.note:not([hidden])', { timeout: 10_000 });
      assert.equal(await page.locator('#error').textContent(), 'Cancelled: busy.mp4 was not analysed.');
      assert.equal(await page.locator('#analyze').isEnabled(), true, 'Analyze can be pressed again');
      assert.equal(await page.locator('#status').isHidden(), true);
      assert.match(server.stderr(), /"busy\.mp4": cancelled after/);
      assert.deepEqual(await ffmpegsUnder(tmp), []);
      assert.deepEqual(uploadsUnder(tmp), []);
    } finally {
      await browser.close();
    }
  });
});

test('Ctrl-C during a running job: serve ends ffmpeg, removes its temporary folder and exits 130', async () => {
  const tmp = fs.mkdtempSync(path.join(project, 'tmp-'));
  const server = await serve(project, [], tmp);
  try {
    const posted = await upload(server.url, busy, { fps: '10' });
    assert.equal(posted.status, 202);
    await waitFor(() => /analysing/.test(server.stderr()), 20_000, 'the job to start');
    // The job logs before it spawns ffmpeg: on a busy machine the process may appear a moment later.
    let decoding = await ffmpegsUnder(tmp);
    for (const deadline = Date.now() + 10_000; decoding.length === 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      decoding = await ffmpegsUnder(tmp);
    }
    assert.equal(decoding.length, 1, 'ffmpeg decodes the upload');
    assert.equal(fs.readdirSync(tmp).length, 1, 'the server keeps its uploads in one folder');

    server.child.kill('SIGINT');
    assert.equal(await server.exited, 130, server.stderr());
    assert.deepEqual(fs.readdirSync(tmp), [], 'the temporary folder and the upload in it are gone');
    assert.deepEqual(await ffmpegsUnder(tmp), [], 'ffmpeg has ended');
    assert.match(server.stderr(), /SIGINT: stopping/);
    assert.match(server.stderr(), /cancelled/);
    assert.doesNotMatch(server.stderr(), STACK_LINE);
  } finally {
    server.child.kill('SIGKILL');
  }
});

/** A PNG's signature and IHDR chunk declaring `width`×`height` gray pixels, then one tiny IDAT and IEND. */
function pngHeader(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (gray), no interlace
  const idat = Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]); // an empty zlib stream
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
