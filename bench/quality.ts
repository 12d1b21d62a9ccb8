// Measurement, in one run:
// 1. How well the quality stage finds the demo's planted near-duplicates: the demo's three generators (as
//    pipelines/demo.yaml has them) with `nearDuplicates` planted and the truth kept, merged, then `quality` with
//    its default params, run through the CLI. Precision and recall of the pairs inside the stage's clusters (what
//    users get) and of its verified pairs, against every pair of images sharing a planted `photo`; recall per
//    transformation and across vs within sources.
// 2. How the real duplicate search (stages/quality/search.ts, default params) grows with the number of images:
//    new faces mixed from the demo's own samples (bench/quality-inputs.ts), and the least-squares growth
//    exponent with the time it projects for the paper's 71,000 images (target ≤ 1.3), at 10,000, 20,000 and
//    40,000 images. Each image proposes at most `hashNeighbours` hash candidates and `neighbours` embedding ones
//    (without that cap look-alike faces made the candidates grow with n²: radiusTable shows how crowded the
//    hash neighbourhoods are).
// Usage: npm run bench:quality    (about 15 minutes on 2 cores; BENCH_QUALITY_SIZES=2500,5000,10000 for a quick look)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../cache/store.js';
import type { Hash } from '../cache/hash.js';
import type { ManifestRecord } from '../datasets/record.js';
import { defaultParams } from '../engine/spec/schema-check.js';
import type { QualityEntry } from '../schemas/types/quality.js';
import { searchDuplicates, type DuplicateSearch } from '../stages/quality/search.js';
import { generateItems, hashesOf, radiusTable, samplesOf } from './quality-inputs.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const SIZES = (process.env.BENCH_QUALITY_SIZES ?? '10000,20000,40000').split(',').map(Number);
const PROJECT_TO = 71000;
// pipelines/demo.yaml's three generators, each with near-duplicates planted: [its params, copies within].
const GENERATORS: Record<string, [string, number]> = {
  fer2013: ['style: fer2013, perClass: 150, labelNoise: 0.1', 42],
  nhfi: ['style: nhfi, perClass: 60, size: 112, labelNoise: 0.1, contempt: 10', 30],
  affectnet: ['style: affectnet, perClass: 90, size: 112, labelNoise: 0.15, contempt: 10', 35],
};
const PIPELINE = `version: 1
seed: 7
stages:
${Object.entries(GENERATORS)
  .map(([name, [params, within]]) => {
    const near = `nearDuplicates: { within: ${within}, shared: { pool: web, photos: 64 } }`;
    return `  ${name}: { type: generate-faces, params: { ${params}, ${near} } }`;
  })
  .join('\n')}
  merge: { type: merge, inputs: [${Object.keys(GENERATORS).join(', ')}] }
  quality: { type: quality, input: merge }
`;

interface Lock {
  stages: Record<string, { outputs: { files: Record<string, { hash: string }> } }>;
}
interface Truth {
  origPath: string;
  photo: string;
  transformation: string;
}
interface Member {
  source: string;
  origPath: string;
}
interface QualityReport {
  clusters: Array<{ members: Member[] }>;
  pairs: Array<{ a: Member; b: Member }>;
}

const keyOf = (m: Member) => `${m.source}\t${m.origPath}`;
const pairKey = (x: string, y: string) => (x < y ? `${x}\n${y}` : `${y}\n${x}`);
const fixed = (x: number, digits = 3) => x.toFixed(digits);

function allPairs(keys: string[], into: Set<string>): void {
  for (let i = 0; i < keys.length; i++) for (let j = i + 1; j < keys.length; j++) into.add(pairKey(keys[i]!, keys[j]!));
}

/** Runs the pipeline through the CLI; returns the quality stage's duration and its log lines. */
function runPipeline(work: string): { seconds: number; logs: string[]; wall: number } {
  const started = performance.now();
  const run = spawnSync(process.execPath, [CLI, 'run', 'p.yaml', '--json'], {
    cwd: work,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`fer-dag run failed in ${work}:\n${run.stdout.slice(-3000)}${run.stderr}`);
  let seconds = NaN;
  const logs: string[] = [];
  for (const line of run.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as { type: string; stage?: string; message?: string; durationMs?: number };
    if (event.stage !== 'quality') continue;
    if (event.type === 'stage-log') logs.push(event.message!);
    if (event.type === 'stage-done') seconds = event.durationMs! / 1000;
  }
  return { seconds, logs, wall: (performance.now() - started) / 1000 };
}

/**
 * Part 1: the stage against the planted truth. Returns the merged images' blobs (the scaling half's bases) and
 * the planted pairs as indexes into them.
 */
function scoreDemo(work: string, store: Store): { blobs: Hash[]; planted: Array<[number, number]> } {
  const lock = JSON.parse(fs.readFileSync(path.join(work, 'p.lock.json'), 'utf8')) as Lock;
  const fileOf = (stage: string, rel: string): string => {
    const hash = lock.stages[stage]?.outputs.files[rel]?.hash;
    if (!hash) throw new Error(`${stage} has no ${rel} in p.lock.json`);
    return store.readBlob(hash as Hash).toString();
  };
  const jsonl = <T>(text: string): T[] =>
    text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as T);

  // The truth: images sharing a photo, by source (the generator stage, as merge names it) and origPath.
  const transformation = new Map<string, string>();
  const photos = new Map<string, string[]>();
  for (const source of Object.keys(GENERATORS))
    for (const t of jsonl<Truth>(fileOf(source, 'near-duplicates.jsonl'))) {
      const key = keyOf({ source, origPath: t.origPath });
      transformation.set(key, t.transformation);
      (photos.get(t.photo) ?? photos.set(t.photo, []).get(t.photo)!).push(key);
    }
  const merged = jsonl<ManifestRecord>(fileOf('merge', 'manifest.jsonl'));
  const present = new Set(merged.map((r) => keyOf(r)));
  const missing = [...transformation.keys()].filter((k) => !present.has(k));
  if (missing.length) console.log(`note: ${missing.length} truth images are not in merge's manifest`);
  const truth = new Set<string>();
  for (const keys of photos.values()) allPairs(keys, truth);

  const report = JSON.parse(fileOf('quality', 'quality.json')) as QualityReport;
  const inClusters = new Set<string>();
  for (const c of report.clusters) allPairs(c.members.map(keyOf), inClusters);
  const direct = new Set(report.pairs.map((p) => pairKey(keyOf(p.a), keyOf(p.b))));

  const score = (found: Set<string>) => {
    const tp = [...found].filter((p) => truth.has(p)).length;
    return { found: found.size, tp, precision: tp / Math.max(1, found.size), recall: tp / Math.max(1, truth.size) };
  };
  const clustered = score(inClusters);
  const verified = score(direct);
  console.log(`truth pairs: ${truth.size} (${photos.size} photos, ${transformation.size} images)`);
  console.log(`found pairs (within clusters): ${clustered.found}; true positives: ${clustered.tp}`);
  console.log(`quality_precision: ${fixed(clustered.precision)}`);
  console.log(`quality_recall: ${fixed(clustered.recall)}`);
  console.log(
    `verified pairs (direct): ${verified.found}, true positives ${verified.tp}, ` +
      `precision ${fixed(verified.precision)}, recall ${fixed(verified.recall)}`,
  );

  // Recall by what was done to the pair's images, and across vs within sources.
  const byKind = new Map<string, [number, number]>();
  const tally = (kind: string, hit: boolean) => {
    const row = byKind.get(kind) ?? byKind.set(kind, [0, 0]).get(kind)!;
    row[0] += hit ? 1 : 0;
    row[1]++;
  };
  for (const pair of truth) {
    const [x, y] = pair.split('\n') as [string, string];
    const hit = inClusters.has(pair);
    const kinds = new Set([transformation.get(x)!, transformation.get(y)!].filter((t) => t !== 'original'));
    for (const kind of kinds.size ? kinds : ['format']) tally(kind, hit);
    tally(x.split('\t')[0] === y.split('\t')[0] ? '(within-source)' : '(across-source)', hit);
  }
  const rows = [...byKind].sort(([a], [b]) => a.localeCompare(b));
  for (const [kind, [hit, all]] of rows)
    console.log(`recall ${kind.replace(/[()]/g, '')}: ${fixed(hit / all)} (${hit}/${all})`);
  const blobs = [...new Set(merged.map((r) => r.blob))].sort();
  const indexOf = new Map(blobs.map((b, i) => [b, i]));
  const itemOf = new Map(merged.map((r) => [keyOf(r), indexOf.get(r.blob)!]));
  const planted = [...truth].flatMap((pair) => {
    const [x, y] = pair.split('\n').map((k) => itemOf.get(k));
    return x === undefined || y === undefined || x === y ? [] : [[x, y] as [number, number]];
  });
  return { blobs, planted };
}

function logLogSlope(xs: number[], ys: number[]): number {
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b) / lx.length;
  const my = ly.reduce((a, b) => a + b) / ly.length;
  let num = 0;
  let den = 0;
  lx.forEach((x, i) => {
    num += (x - mx) * (ly[i]! - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

/** Part 2: the real search at each size, over one generation whose prefixes are the smaller sizes. */
async function scaling(bases: Uint8Array[]): Promise<void> {
  const params = defaultParams<QualityEntry>('quality.schema.json').duplicates;
  console.log(`search params (the stage's defaults): ${JSON.stringify(params)}`);
  const generating = performance.now();
  const all = generateItems(bases, Math.max(...SIZES));
  console.log(
    `generated ${all.items.length} items from ${bases.length} bases (samples, 27+1 hashes, embeddings) in ` +
      `${fixed((performance.now() - generating) / 1000, 1)} s`,
  );
  const times: number[] = [];
  let lastCandidates = 0;
  for (const size of SIZES) {
    const items = all.items.slice(0, size);
    // The faster of two runs at every size: the machine is shared, and a slow run at one size alone would tilt the
    // exponent (an earlier version took two runs at 10,000 only, which favoured the smallest size).
    let best: { total: number; search: DuplicateSearch; sameBase: number } | undefined;
    for (let run = 0; run < 2; run++) {
      let sameBase = 0;
      const start = performance.now();
      const search = searchDuplicates(items, params, (i, j) => {
        if (all.baseOf[i] === all.baseOf[j]) sameBase++;
      });
      const total = (performance.now() - start) / 1000;
      if (!best || total < best.total) best = { total, search, sameBase };
    }
    const { total, search, sameBase } = best!;
    times.push(total);
    lastCandidates = search.candidates;
    const planted = all.planted.filter(([, copy]) => copy < size);
    const clusterOf = new Int32Array(size).fill(-1);
    search.clusters.forEach((members, c) => members.forEach((m) => (clusterOf[m] = c)));
    const plantedFound = planted.filter(([a, b]) => clusterOf[a] !== -1 && clusterOf[a] === clusterOf[b]).length;
    const plantedSet = new Set(planted.map(([a, b]) => a * size + b));
    const otherVerified = search.pairs.filter(({ a, b }) => !plantedSet.has(a * size + b)).length;
    console.log(
      `search ${size}: ${fixed(total, 2)} s (hash index ${fixed(search.seconds.hashes, 2)} s, embedding index ` +
        `${fixed(search.seconds.embeddings, 2)} s, verification ` +
        `${fixed(search.seconds.verify, 2)} s); candidates ${search.candidates} ` +
        `(${fixed(search.candidates / size, 2)} an image, ${fixed((100 * sameBase) / search.candidates, 1)} % ` +
        `sharing a main base); verified ${search.pairs.length} (${otherVerified} not planted); planted found ` +
        `${plantedFound}/${planted.length}`,
    );
    console.log(`quality_search_seconds_${size}: ${fixed(total, 2)}`);
    console.log(`quality_search_candidates_${size}: ${search.candidates}`);
  }
  const last = SIZES.length - 1;
  console.log(
    `${fixed(lastCandidates / SIZES[last]!, 2)} candidates an image at ${SIZES[last]}, ` +
      `${fixed((times[last]! / lastCandidates) * 1000, 3)} ms a candidate (search time over candidates)`,
  );
  if (SIZES.length < 2) return;
  const exponent = logLogSlope(SIZES, times);
  console.log(`quality_growth_exponent: ${fixed(exponent, 2)}`);
  console.log(
    `quality_projected_seconds_${PROJECT_TO}: ${fixed(times[last]! * (PROJECT_TO / SIZES[last]!) ** exponent, 1)}`,
  );
}

async function main(): Promise<void> {
  console.log(
    'bench:quality: (1) the quality stage (default params) on the demo sources with planted near-duplicates: ' +
      'precision/recall against the truth; (2) the real duplicate search at ' +
      `${SIZES.join(', ')} new faces mixed from the demo's samples: seconds, growth exponent (target ≤ 1.3)`,
  );
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-bench-quality-'));
  try {
    fs.writeFileSync(path.join(work, 'p.yaml'), PIPELINE);
    const run = runPipeline(work);
    console.log(`pipeline ran in ${fixed(run.wall, 1)} s; quality stage ${fixed(run.seconds, 1)} s`);
    for (const line of run.logs.filter((l) => /near-duplicates|signatures|features/.test(l)))
      console.log(`quality log: ${line}`);
    const store = new Store(path.join(work, '.fer-dag'));
    const { blobs, planted } = scoreDemo(work, store);
    const bases = await samplesOf(blobs.map((blob) => store.readBlob(blob)));
    const demoItems = bases.map((sample) => ({ ...hashesOf(sample), sample }));
    console.log('hash candidates by radius on the demo images (whole or mirror vs 27 windows, both ways):');
    for (const line of radiusTable(demoItems, planted)) console.log(`  ${line}`);
    await scaling(bases);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
