import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { commandSynthesizer, type CommandSynthesizerOptions } from '../synth/command.js';
import { SynthesisError, type SynthesisRequest } from '../synth/types.js';

/** A 1×1 PNG: what a well-behaved program writes to `out`. */
const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

/**
 * The fake synthesizer program, in one of several behaviours (argv[2]). It logs its start and every request it
 * reads (with how many it was working on at that moment) to argv[3], so a test sees what crossed the pipe.
 */
const FAKE_PROGRAM = `import * as fs from 'node:fs';
import * as readline from 'node:readline';
const [mode, log] = process.argv.slice(2);
const PNG = Buffer.from('${PNG_BASE64}', 'base64');
const note = (event) => fs.appendFileSync(log, JSON.stringify({ pid: process.pid, ...event }) + '\\n');
const answer = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
note({ event: 'start' });
let received = 0;
let inFlight = 0;
if (mode === 'silent') setInterval(() => {}, 1000); // stuck: not even the end of stdin stops it
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line);
  received++;
  inFlight++;
  note({ event: 'request', inFlight, request });
  if (mode === 'silent') return;
  if (mode === 'exit' && received === 2) {
    process.stderr.write('loading weights\\nfatal: the weights file is corrupted\\n');
    process.exit(3);
  }
  if (mode === 'noise') {
    console.log('Loading pipeline components...');
    console.log('{"progress": 0.5}');
    console.log('[1, 2, 3]');
    console.log('42');
    console.log(JSON.stringify({ id: String(request.id), ok: false, error: 'a string id is not an answer' }));
    process.stdout.write('100%|██████████| 20/20\\r\\n');
  }
  // The first seed takes longest, so two requests in flight are answered out of order.
  setTimeout(() => {
    inFlight--;
    if (mode === 'fail' && request.prompt === 'bad') return answer({ id: request.id, ok: false, error: 'CUDA out of memory' });
    const bytes = mode === 'garbage' ? Buffer.from('<html>oops</html>') : request.prompt === 'jpeg' ? Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]) : PNG;
    fs.writeFileSync(request.out, bytes);
    answer({ id: request.id, ok: true });
  }, request.seed === 1 ? 80 : 10);
});
`;

interface LogLine {
  pid: number;
  event: 'start' | 'request';
  inFlight?: number;
  request?: Record<string, unknown> & { id: number; out: string };
}

function fakeProgram(
  mode: 'good' | 'fail' | 'garbage' | 'exit' | 'silent' | 'noise',
  extra: Partial<CommandSynthesizerOptions> = {},
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-synth-test-'));
  fs.writeFileSync(path.join(dir, 'fake.mjs'), FAKE_PROGRAM);
  const logFile = path.join(dir, 'log.jsonl');
  const synth = commandSynthesizer({ command: [process.execPath, 'fake.mjs', mode, logFile], cwd: dir, ...extra });
  const log = (): LogLine[] =>
    fs.existsSync(logFile)
      ? fs
          .readFileSync(logFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as LogLine)
      : [];
  const starts = () => log().filter((l) => l.event === 'start');
  /** Closes the synthesizer and checks that it left no process and no files behind. */
  const finish = async () => {
    await synth.close?.();
    for (const { pid } of starts())
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `program ${pid} is still running`);
    for (const line of log())
      if (line.request)
        assert.equal(fs.existsSync(path.dirname(line.request.out)), false, 'the output folder is removed');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { synth, log, starts, finish };
}

function request(overrides: Partial<SynthesisRequest> = {}): SynthesisRequest {
  return {
    prompt: 'a photo of a happy woman',
    negativePrompt: 'blurry, cartoon',
    seed: 1,
    width: 512,
    height: 512,
    steps: 30,
    emotion: 'happy',
    subgroup: { gender: 'female', age: 'adult', ethnicity: 'asian' },
    ...overrides,
  };
}

const signal = new AbortController().signal;
const PNG = Buffer.from(PNG_BASE64, 'base64');

function synthesisError(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof SynthesisError, `a SynthesisError, not ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

test('a good program is started once, gets every protocol field, may answer out of order, and close removes its files', async () => {
  const fake = fakeProgram('good', { concurrency: 2, model: 'sd-v1-4' });
  try {
    assert.equal(fake.synth.concurrency, 2);
    const [first, second] = await Promise.all([
      fake.synth.generate(request(), signal),
      fake.synth.generate(request({ seed: 2, prompt: 'jpeg' }), signal),
    ]);
    assert.deepEqual(Buffer.from(first), PNG);
    assert.deepEqual([...second.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG is accepted too');
    assert.equal(fake.starts().length, 1);
    const requests = fake.log().filter((l) => l.request);
    assert.deepEqual(
      requests.map((l) => l.inFlight),
      [1, 2],
      'with concurrency 2 the second request is sent before the first is answered',
    );
    const sent = requests[0]!.request!;
    assert.deepEqual(Object.keys(sent).sort(), [
      'height',
      'id',
      'negative_prompt',
      'out',
      'prompt',
      'seed',
      'steps',
      'width',
    ]);
    assert.deepEqual(
      { ...sent, out: path.basename(sent.out) },
      {
        id: 1,
        prompt: 'a photo of a happy woman',
        negative_prompt: 'blurry, cartoon',
        seed: 1,
        width: 512,
        height: 512,
        steps: 30,
        out: '1.png',
      },
    );
    assert.ok(path.dirname(sent.out).startsWith(os.tmpdir()), 'images are written to a private temp folder');
    assert.deepEqual(fs.readdirSync(path.dirname(sent.out)), [], 'each image file is deleted once read');
  } finally {
    await fake.finish();
  }
});

test('with the default concurrency of 1, requests wait for the previous answer', async () => {
  const fake = fakeProgram('good');
  try {
    assert.equal(fake.synth.concurrency, 1);
    await Promise.all([1, 2, 3].map((seed) => fake.synth.generate(request({ seed }), signal)));
    assert.deepEqual(
      fake
        .log()
        .filter((l) => l.request)
        .map((l) => l.inFlight),
      [1, 1, 1],
    );
    assert.equal(fake.starts().length, 1);
  } finally {
    await fake.finish();
  }
});

test('the identity is the command and the declared model, and nothing else', () => {
  const a = commandSynthesizer({
    command: ['python3', 'sd.py'],
    cwd: '/a',
    model: 'sd-v1-4',
    timeoutSeconds: 5,
    env: { HF_TOKEN: 'x' },
  });
  const b = commandSynthesizer({ command: ['python3', 'sd.py'], cwd: '/b', model: 'sd-v1-4' });
  assert.equal(a.identity, 'command {"command":["python3","sd.py"],"model":"sd-v1-4"}');
  assert.equal(a.identity, b.identity);
  assert.notEqual(commandSynthesizer({ command: ['python3 sd.py'], cwd: '/a', model: 'sd-v1-4' }).identity, a.identity);
  assert.equal(
    commandSynthesizer({ command: ['python3', 'sd.py'], cwd: '/a' }).identity,
    'command {"command":["python3","sd.py"],"model":null}',
  );
});

test("an ok:false answer fails that image with the program's error, and the next image still comes", async () => {
  const fake = fakeProgram('fail');
  try {
    await assert.rejects(
      fake.synth.generate(request({ prompt: 'bad' }), signal),
      synthesisError(/the synthesizer program `.*fake\.mjs fail .*` could not generate image 1: CUDA out of memory/),
    );
    assert.deepEqual(Buffer.from(await fake.synth.generate(request(), signal)), PNG);
    assert.equal(fake.starts().length, 1);
  } finally {
    await fake.finish();
  }
});

test('an out file that is not a PNG or JPEG fails the image and says what it starts with', async () => {
  const fake = fakeProgram('garbage');
  try {
    await assert.rejects(
      fake.synth.generate(request(), signal),
      synthesisError(
        /fake\.mjs garbage .*` wrote \S+1\.png for request 1 but it is not a PNG or JPEG \(it starts with 3c 68 74 6d\)/,
      ),
    );
  } finally {
    await fake.finish();
  }
});

test('a program that exits fails its pending image with the exit code and stderr, is restarted once, then fails fast', async () => {
  const fake = fakeProgram('exit');
  const exited = synthesisError(
    /the synthesizer program `.*fake\.mjs exit .*` exited with code 3; its stderr: loading weights\nfatal: the weights file is corrupted$/,
  );
  try {
    await fake.synth.generate(request(), signal);
    await assert.rejects(fake.synth.generate(request({ seed: 2 }), signal), exited);
    assert.equal(fake.starts().length, 1);

    assert.deepEqual(
      Buffer.from(await fake.synth.generate(request({ seed: 3 }), signal)),
      PNG,
      'the next image restarts it',
    );
    assert.equal(fake.starts().length, 2);
    await assert.rejects(fake.synth.generate(request({ seed: 4 }), signal), exited);

    await assert.rejects(
      fake.synth.generate(request({ seed: 5 }), signal),
      exited,
      'no second restart: the same failure, at once',
    );
    assert.equal(fake.starts().length, 2);
  } finally {
    await fake.finish();
  }
});

test('a program that never answers fails the image after timeoutSeconds, and close kills it', async () => {
  const fake = fakeProgram('silent', { timeoutSeconds: 0.3 });
  try {
    const started = Date.now();
    await assert.rejects(
      fake.synth.generate(request(), signal),
      synthesisError(/fake\.mjs silent .*` did not answer request 1 within 0\.3 s \(timeoutSeconds\)/),
    );
    assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);
  } finally {
    await fake.finish(); // the program ignores the end of its stdin: close has to kill it
  }
});

test('a command that does not exist fails with "not found" and how to fix it, without retrying', async () => {
  const synth = commandSynthesizer({ command: ['fer-dag-no-such-synthesizer', '--model', 'x'], cwd: os.tmpdir() });
  try {
    const notFound = synthesisError(
      /the synthesizer program `fer-dag-no-such-synthesizer --model x` was not found .*ENOENT.*: install it or put it on PATH, or give its full path/,
    );
    await assert.rejects(synth.generate(request(), signal), notFound);
    await assert.rejects(synth.generate(request(), signal), notFound);
  } finally {
    await synth.close?.();
  }
});

test('stdout lines that are not answers (banners, progress, JSON without a numeric id) are ignored', async () => {
  const fake = fakeProgram('noise');
  try {
    assert.deepEqual(Buffer.from(await fake.synth.generate(request(), signal)), PNG);
    assert.deepEqual(Buffer.from(await fake.synth.generate(request({ seed: 2 }), signal)), PNG);
  } finally {
    await fake.finish();
  }
});

test('a cancelled request is rejected with the signal’s reason, not as a failed image', async () => {
  const fake = fakeProgram('good');
  try {
    const controller = new AbortController();
    const pending = fake.synth.generate(request(), controller.signal);
    const queued = fake.synth.generate(request({ seed: 2 }), controller.signal);
    while (!fake.log().some((l) => l.request)) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(); // the first is with the program, the second waits for its turn
    await assert.rejects(pending, { name: 'AbortError' });
    await assert.rejects(queued, { name: 'AbortError' });
    assert.deepEqual(
      Buffer.from(await fake.synth.generate(request({ seed: 3 }), signal)),
      PNG,
      'the program keeps serving',
    );
  } finally {
    await fake.finish();
  }
});
