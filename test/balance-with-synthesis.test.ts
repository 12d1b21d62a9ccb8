import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { seededRandom } from '../lib/random.js';
import { SUBGROUPS } from '../datasets/vocabulary.js';
import { personInSubgroup } from '../synth/faces/attributes.js';
import { encodePng, renderFace } from '../synth/faces/render.js';
import { STYLES } from '../synth/faces/styles.js';
import { EMOTIONS } from '../datasets/vocabulary.js';
import { cli, makeProject, stageOutput } from './helpers.js';

const SOURCES = `  gray: { type: generate-faces, params: { style: fer2013, perClass: 6 } }
  colour: { type: generate-faces, params: { style: affectnet, perClass: 4, size: 96, contempt: 0 } }
  merge: { type: merge, inputs: [gray, colour] }
  agr: { type: agr, input: merge, params: { attributes: annotations } }
  distribute: { type: distribute, input: agr, params: { plots: false } }
`;

function pipeline(balanceParams: string, sources = SOURCES): string {
  return `version: 1\nseed: 11\nstages:\n${sources}  evaluator: { type: balance-with-synthesis, input: distribute, params: { ${balanceParams} } }\n`;
}

test("every emotion × subgroup cell of every source's evaluator holds exactly perSubgroup images", async () => {
  const params =
    'perSubgroup: 1, width: 160, height: 160, maxAttempts: 4, checks: { emotion: { enabled: false }, attributes: [] }';
  const dir = makeProject({ 'p.yaml': pipeline(params) });
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const out = stageOutput(dir, 'evaluator');
  const deficits = out.json('deficits.json');
  for (const source of ['gray', 'colour']) {
    const evaluator = out.records(`evaluator/${source}.jsonl`);
    assert.equal(evaluator.length, EMOTIONS.length * SUBGROUPS.length, `${source}: one image per cell`);
    for (const emotion of EMOTIONS) {
      for (const subgroup of SUBGROUPS) {
        assert.equal(
          evaluator.filter((r) => r.label === emotion && r.subgroup === subgroup).length,
          1,
          `${source} ${emotion} ${subgroup}`,
        );
      }
    }
    const generated = evaluator.filter((r) => r.synthetic);
    assert.equal(generated.length, deficits.sources[source].totalHoles, 'every hole was filled');
    assert.equal(deficits.sources[source].open.length, 0);
    assert.equal(deficits.sources[source].real + generated.length, evaluator.length);
    for (const r of generated) {
      assert.ok(
        r.prompt?.includes(`${r.ethnicity === 'others' ? 'hispanic' : r.ethnicity} ${r.age} ${r.gender}`),
        r.prompt,
      );
      assert.equal(typeof r.seed, 'number');
      assert.match(r.generator!, /procedural/);
      assert.equal(r.split, 'evaluator');
    }
    // Converted to the source's own format: FER2013-style 48×48 gray, AffectNet-style 96×96 colour.
    const sample = await sharp(out.blob(generated[0]!.blob)).metadata();
    assert.deepEqual([sample.width, sample.channels], source === 'gray' ? [48, 1] : [96, 3]);
  }
  // The rest of the test split went to training; nothing else changed split.
  const all = out.records();
  assert.equal(all.filter((r) => r.split === 'test').length, 0);
  assert.equal(all.filter((r) => r.split === 'evaluator').length, 2 * 280);
  const attempts = deficits.total.holes + sumRejected(out.json('acceptance.json'));
  assert.deepEqual(
    [out.metrics().generated, out.metrics().checked],
    [attempts, attempts],
    'each attempt generated and checked once',
  );
});

function sumRejected(acceptance: { perEmotion: Record<string, { attempts: number; accepted: number }> }): number {
  return Object.values(acceptance.perEmotion).reduce((n, e) => n + e.attempts - e.accepted, 0);
}

const ONE_SOURCE = `  gray: { type: generate-faces, params: { style: fer2013, perClass: 10 } }
  merge: { type: merge, inputs: [gray] }
  agr: { type: agr, input: merge, params: { attributes: annotations } }
  distribute: { type: distribute, input: agr, params: { plots: false } }
`;

test('a synthesizer that draws no face is retried with new seeds, each hole left open is reported with its attempts, and a new check re-checks without regenerating', async () => {
  // A command synthesizer that always paints a blank canvas.
  const program = `import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import sharp from ${JSON.stringify(import.meta.resolve('sharp'))};
const blank = await sharp({ create: { width: 128, height: 128, channels: 3, background: { r: 120, g: 120, b: 120 } } }).png().toBuffer();
for await (const line of createInterface({ input: process.stdin })) {
  const request = JSON.parse(line);
  writeFileSync(request.out, blank);
  process.stdout.write(JSON.stringify({ id: request.id, ok: true }) + '\\n');
}
`;
  const dir = makeProject({
    'blank.mjs': program,
    'p.yaml': pipeline(
      'perSubgroup: 1, maxAttempts: 2, synthesizer: { type: command, command: [node, blank.mjs], model: blank }, checks: { emotion: { enabled: false }, attributes: [] }',
      ONE_SOURCE,
    ),
  });
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const out = stageOutput(dir, 'evaluator');
  const acceptance = out.json('acceptance.json');
  const deficits = out.json('deficits.json');
  const holes = deficits.total.holes;
  assert.ok(holes > 200, `${holes} holes`);
  assert.equal(deficits.total.filled, 0);
  assert.equal(acceptance.openHoles.length, holes);
  for (const open of acceptance.openHoles.slice(0, 20)) {
    assert.deepEqual(
      open.attempts.map((a: { attempt: number; rejections: string[] }) => [a.attempt, a.rejections]),
      [
        [0, ['no-face']],
        [1, ['no-face']],
      ],
    );
    assert.notEqual(open.attempts[0].seed, open.attempts[1].seed, 'each attempt asks for another seed');
  }
  const happy = acceptance.perEmotion.happy;
  assert.deepEqual(
    [happy.attempts, happy.accepted, happy.acceptanceRate, happy.rejected['no-face']],
    [2 * happy.holes, 0, 0, 2 * happy.holes],
  );
  assert.match(out.blob(out.files['balance.md']!.hash).toString(), /\| happy \| \d+ \| 0 \| 0 % \| no-face \d+ \|/);
  // The real images picked are still the evaluator; nothing was invented to fill the holes.
  assert.equal(out.records('evaluator.jsonl').filter((r) => r.synthetic).length, 0);
  // Every blank is the same image: its verdict for a cell is memoised after the cell's first attempt.
  assert.deepEqual([out.metrics().generated, out.metrics().checked], [2 * holes, holes]);

  // A laxer detector is a new check: every image is checked again, none is generated again.
  fs.writeFileSync(
    path.join(dir, 'p.yaml'),
    fs
      .readFileSync(path.join(dir, 'p.yaml'), 'utf8')
      .replace('maxAttempts: 2,', 'maxAttempts: 2, detector: { minConfidence: 0.3 },'),
  );
  const again = await cli(dir, 'run', 'p.yaml');
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.deepEqual(
    [
      stageOutput(dir, 'evaluator').metrics().generated,
      stageOutput(dir, 'evaluator').metrics().checked,
      stageOutput(dir, 'evaluator').metrics().fromMemo,
    ],
    [0, holes, 2 * holes],
  );
});

const servers: http.Server[] = [];
after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('the http synthesizer survives a server that times out, fails or answers garbage: those images fail with a clear error, the others are kept', async () => {
  // Seeds ending in 0 get a 500, in 1 garbage, in 2 no answer; the rest a procedural face of the subgroup asked for.
  // The faces are drawn in this process, 16 at a time: timeoutMs leaves room for a busy machine.
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', async () => {
      const request = JSON.parse(body) as { seed: number; width: number; prompt: string };
      const kind = request.seed % 10;
      if (kind === 0) return res.writeHead(500).end('CUDA out of memory');
      if (kind === 1)
        return res.writeHead(200, { 'content-type': 'application/json' }).end('{"images": ["bm90IGFuIGltYWdl"]}');
      if (kind === 2) return; // never answers
      const emotion =
        EMOTIONS.find((e) => request.prompt.includes(e === 'angry' ? 'angry' : e.slice(0, 5))) ?? 'neutral';
      const rng = seededRandom(request.seed);
      const face = await renderFace(
        STYLES.affectnet,
        request.width,
        rng,
        emotion,
        personInSubgroup(rng, 'female', 'young', 'white'),
      );
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ images: [(await encodePng(face)).toString('base64')] }));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = makeProject({
    'p.yaml': pipeline(
      `perSubgroup: 1, width: 128, height: 128, maxAttempts: 1, synthesizer: { type: http, servers: [${url}], attempts: 2, backoffMs: 1, timeoutMs: 6000, concurrencyPerServer: 16, model: procedural-test }, checks: { emotion: { enabled: false }, attributes: [] }`,
      ONE_SOURCE,
    ),
  });
  const run = await cli(dir, 'run', 'p.yaml');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const out = stageOutput(dir, 'evaluator');
  const acceptance = out.json('acceptance.json');
  const errors = acceptance.openHoles.flatMap((h: { attempts: Array<{ seed: number; error?: string }> }) => h.attempts);
  const bySeed = (digit: number) =>
    errors.filter((a: { seed: number }) => a.seed % 10 === digit).map((a: { error?: string }) => a.error ?? '');
  assert.ok(
    bySeed(0).length > 0 && bySeed(0).every((e: string) => /HTTP 500/.test(e) && /failed 2 times/.test(e)),
    bySeed(0).find((e: string) => !/HTTP 500/.test(e) || !/failed 2 times/.test(e)),
  );
  assert.ok(bySeed(1).length > 0 && bySeed(1).every((e: string) => /PNG|JPEG|image/i.test(e)), bySeed(1)[0]);
  assert.ok(bySeed(2).length > 0 && bySeed(2).every((e: string) => /time/i.test(e)), bySeed(2)[0]);
  const generated = out.records('evaluator.jsonl').filter((r) => r.synthetic);
  assert.ok(generated.length > 100, `${generated.length} generated images kept`);
  assert.ok(generated.every((r) => r.seed! % 10 > 2));
  assert.equal(generated.length + acceptance.openHoles.length, out.json('deficits.json').total.holes);
});
