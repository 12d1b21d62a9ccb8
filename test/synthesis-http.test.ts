import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { httpSynthesizer } from '../synth/http.js';
import { SynthesisError, type SynthesisRequest } from '../synth/types.js';

const request: SynthesisRequest = {
  prompt: 'a photo of a happy young asian woman',
  negativePrompt: 'blurry',
  seed: 42,
  width: 64,
  height: 48,
  steps: 12,
  emotion: 'happy',
  subgroup: { gender: 'female', age: 'young', ethnicity: 'asian' },
};

const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } })
  .png()
  .toBuffer();
const goodAnswer = JSON.stringify({ images: [png.toString('base64')], parameters: {}, info: '{}' });

/** What a fake server's handler does with the n-th request (counted from 1): answer, or never answer. */
type Reply = { status?: number; body: string; delayMs?: number } | 'hang';

interface FakeServer {
  url: string;
  bodies: Record<string, unknown>[];
  maxInFlight: number;
}

const servers: http.Server[] = [];
after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A local txt2img server that records what it is sent and how many requests it holds at once. */
async function fakeServer(reply: (n: number) => Reply): Promise<FakeServer> {
  const fake: FakeServer = { url: '', bodies: [], maxInFlight: 0 };
  let inFlight = 0;
  const server = http.createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    assert.equal(`${req.method} ${req.url}`, 'POST /sdapi/v1/txt2img');
    fake.bodies.push(JSON.parse(text) as Record<string, unknown>);
    const answer = reply(fake.bodies.length);
    if (answer === 'hang') return;
    fake.maxInFlight = Math.max(fake.maxInFlight, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, answer.delayMs ?? 0));
    inFlight--;
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' }).end(answer.body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

const always = (reply: Reply) => () => reply;
const fast = { backoffMs: 10, timeoutMs: 2000 };

async function failure(promise: Promise<unknown>): Promise<SynthesisError> {
  const error = await promise.then(
    () => assert.fail('generate should have failed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof SynthesisError, `a SynthesisError, not ${String(error)}`);
  return error;
}

test('a good server returns the decoded image for a txt2img body built from the request and the extra fields', async () => {
  const server = await fakeServer(always({ body: goodAnswer }));
  const extra = { sampler_name: 'Euler a', cfg_scale: 7, override_settings: { sd_model_checkpoint: 'sd-v1-4' } };
  const synthesizer = httpSynthesizer({ servers: [server.url], extra, model: 'sd-v1-4' });

  const image = await synthesizer.generate(request, new AbortController().signal);
  assert.deepEqual(Buffer.from(image), png);
  assert.deepEqual(server.bodies, [
    {
      prompt: request.prompt,
      negative_prompt: 'blurry',
      seed: 42,
      steps: 12,
      width: 64,
      height: 48,
      batch_size: 1,
      n_iter: 1,
      ...extra,
    },
  ]);

  assert.equal(synthesizer.concurrency, 1);
  assert.ok(!synthesizer.identity.includes('127.0.0.1'), synthesizer.identity);
  const identity = (options: Partial<Parameters<typeof httpSynthesizer>[0]>) =>
    httpSynthesizer({ servers: [server.url], extra, model: 'sd-v1-4', ...options }).identity;
  assert.equal(
    identity({ servers: ['http://gpu-7:7860', 'http://gpu-8:7860/'] }),
    synthesizer.identity,
    'another server, same model: same identity',
  );
  assert.equal(
    identity({
      extra: { override_settings: { sd_model_checkpoint: 'sd-v1-4' }, cfg_scale: 7, sampler_name: 'Euler a' },
    }),
    synthesizer.identity,
    'key order does not matter',
  );
  assert.notEqual(identity({ model: 'sdxl' }), synthesizer.identity);
  assert.notEqual(identity({ extra: { ...extra, cfg_scale: 9 } }), synthesizer.identity);
});

test('a data-URL image is decoded too', async () => {
  const server = await fakeServer(
    always({ body: JSON.stringify({ images: [`data:image/png;base64,${png.toString('base64')}`] }) }),
  );
  const image = await httpSynthesizer({ servers: [server.url] }).generate(request, new AbortController().signal);
  assert.deepEqual(Buffer.from(image), png);
});

test('HTTP 500 is retried: two failures then an image succeed with 3 attempts, and fail with 2', async () => {
  const flaky =
    () =>
    (n: number): Reply =>
      n <= 2 ? { status: 500, body: 'CUDA out of memory' } : { body: goodAnswer };
  const server = await fakeServer(flaky());
  const image = await httpSynthesizer({ servers: [server.url], attempts: 3, ...fast }).generate(
    request,
    new AbortController().signal,
  );
  assert.deepEqual(Buffer.from(image), png);
  assert.equal(server.bodies.length, 3);

  const twice = await fakeServer(flaky());
  const error = await failure(
    httpSynthesizer({ servers: [twice.url], attempts: 2, ...fast }).generate(request, new AbortController().signal),
  );
  assert.equal(twice.bodies.length, 2);
  assert.equal(
    error.message,
    `txt2img at ${twice.url} failed 2 times: HTTP 500 (Internal Server Error); last body "CUDA out of memory"; ` +
      "the server's console shows its error (a GPU out of memory often answers 500)",
  );
});

test('a retry goes to another server when one keeps failing', async () => {
  const broken = await fakeServer(always({ status: 503, body: 'loading model' }));
  const good = await fakeServer(always({ body: goodAnswer }));
  const synthesizer = httpSynthesizer({ servers: [broken.url, good.url], ...fast });
  for (let i = 0; i < 2; i++) await synthesizer.generate(request, new AbortController().signal);
  assert.equal(good.bodies.length, 2);
  assert.ok(broken.bodies.length <= 2, 'each failure on the broken server is retried on the good one');
});

test('a server that never answers times out, is retried, and the error says so', async () => {
  const server = await fakeServer(always('hang'));
  const started = Date.now();
  const error = await failure(
    httpSynthesizer({ servers: [server.url], timeoutMs: 200, backoffMs: 10 }).generate(
      request,
      new AbortController().signal,
    ),
  );
  assert.equal(server.bodies.length, 3);
  assert.match(error.message, /failed 3 times: no answer within 200 ms \(timeout\)/);
  assert.ok(Date.now() - started < 2000, 'three timeouts of 200 ms, not the default two minutes');
});

test('an unreachable server is retried and the error asks whether it runs with --api', async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
  const error = await failure(
    httpSynthesizer({ servers: [url], attempts: 2, ...fast }).generate(request, new AbortController().signal),
  );
  assert.match(
    error.message,
    new RegExp(`^txt2img at ${url} failed 2 times: cannot reach it \\(.*ECONNREFUSED.*\\); .*--api\\?$`),
  );
});

test('a 200 that is not an image is retried, and the error names what was wrong', async () => {
  const cases: [Reply, RegExp][] = [
    [
      { body: '<html>Gradio</html>' },
      /failed 3 times: the answer is not JSON; last body "<html>Gradio<\/html>"; .*--api\?$/,
    ],
    [
      { body: JSON.stringify({ images: [], info: '' }) },
      /failed 3 times: the JSON answer has no images; last body "\{"images":\[\],"info":""\}"/,
    ],
    [
      { body: JSON.stringify({ images: [Buffer.from('GIF89a not ours').toString('base64')] }) },
      /failed 3 times: images\[0\] is not a base64 PNG or JPEG \(it starts "R0lGODlh/,
    ],
  ];
  for (const [reply, message] of cases) {
    const server = await fakeServer(always(reply));
    const error = await failure(
      httpSynthesizer({ servers: [server.url], ...fast }).generate(request, new AbortController().signal),
    );
    assert.match(error.message, message);
    assert.equal(server.bodies.length, 3);
  }
});

test('a 400 is not retried: a bad request stays bad', async () => {
  const server = await fakeServer(always({ status: 400, body: JSON.stringify({ detail: 'unknown sampler' }) }));
  const error = await failure(
    httpSynthesizer({ servers: [server.url], extra: { sampler_name: 'nope' }, ...fast }).generate(
      request,
      new AbortController().signal,
    ),
  );
  assert.equal(server.bodies.length, 1);
  assert.match(
    error.message,
    /failed once, not retried: HTTP 400 \(Bad Request\); body "\{"detail":"unknown sampler"\}"; .*extra fields/,
  );
});

test('concurrent callers never put more than concurrencyPerServer requests on a server, and every server is used', async () => {
  const pool = [
    await fakeServer(always({ body: goodAnswer, delayMs: 50 })),
    await fakeServer(always({ body: goodAnswer, delayMs: 50 })),
  ];
  const synthesizer = httpSynthesizer({ servers: pool.map((s) => s.url), concurrencyPerServer: 1 });
  assert.equal(synthesizer.concurrency, 2);
  const images = await Promise.all(
    Array.from({ length: 6 }, (_, i) => synthesizer.generate({ ...request, seed: i }, new AbortController().signal)),
  );
  assert.equal(images.length, 6);
  assert.deepEqual(
    pool.map((s) => s.maxInFlight),
    [1, 1],
  );
  assert.ok(
    pool.every((s) => s.bodies.length > 0),
    'both servers take requests',
  );
  assert.deepEqual(pool.flatMap((s) => s.bodies.map((b) => b.seed)).sort(), [0, 1, 2, 3, 4, 5]);
});

test("the caller's abort rejects at once with its reason and is not retried", async () => {
  const server = await fakeServer(always('hang'));
  const controller = new AbortController();
  const reason = new Error('stage cancelled');
  setTimeout(() => controller.abort(reason), 50);
  const started = Date.now();
  await assert.rejects(
    httpSynthesizer({ servers: [server.url], timeoutMs: 10_000, backoffMs: 10 }).generate(request, controller.signal),
    (e) => e === reason,
  );
  assert.ok(Date.now() - started < 1000, 'not after the timeout');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(server.bodies.length, 1, 'no retry after the abort');
});
