import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../cache/hash.js';
import { StatCache } from '../cache/stat-cache.js';
import { decodeShard, encodeShard, rowsOf, type StatRow } from '../cache/stat-shard-file.js';
import { hashPath } from '../cache/tree.js';
import { makeProject, writeFiles } from './helpers.js';

test('over 8,000 files the stats run on worker threads, and an edit that keeps the size is still seen', async () => {
  const dir = makeProject();
  const files: Record<string, string> = {};
  for (let i = 0; i < 9000; i++)
    files[`data/${i % 9}/${String(i).padStart(5, '0')}.txt`] = `image ${String(i).padStart(5, '0')}`;
  writeFiles(dir, files);
  const stateDir = path.join(dir, 'state');
  const first = new StatCache(stateDir);
  const { files: tree } = await hashPath(first, path.join(dir, 'data'));
  first.flush();
  assert.equal(Object.keys(tree).length, 9000);
  for (const rel of ['0/00000.txt', '8/08999.txt', '0/04500.txt']) {
    assert.equal(tree[rel]!.hash, sha256(files[`data/${rel}`]!), `${rel} is hashed from its own bytes`);
  }

  const second = new StatCache(stateDir);
  // filesRead alone would be 0 on the per-file path too: watch that the whole-shard comparison answers.
  const wholeShard: boolean[] = [];
  const compare = second.unchangedHashes.bind(second);
  second.unchangedHashes = (root, rels, stamps) => {
    const answer = compare(root, rels, stamps);
    wholeShard.push(answer !== undefined);
    return answer;
  };
  assert.deepEqual((await hashPath(second, path.join(dir, 'data'))).files, tree);
  assert.equal(second.filesRead, 0, 'an unchanged folder is answered from the stats');
  assert.deepEqual(wholeShard, [true], 'the saved shard is compared wholesale, without building per-file rows');
  // The last files go to the last thread; same length, new bytes, so only the mtime and ctime tell.
  fs.writeFileSync(path.join(dir, 'data/8/08999.txt'), 'image 0899X');
  const { files: edited } = await hashPath(second, path.join(dir, 'data'));
  assert.equal(second.filesRead, 1);
  assert.equal(edited['8/08999.txt']!.hash, sha256('image 0899X'));
  // A rename keeps the count and every stat, only a path differs: still not the saved listing.
  fs.renameSync(path.join(dir, 'data/0/00000.txt'), path.join(dir, 'data/0/0000a.txt'));
  const { files: renamed } = await hashPath(second, path.join(dir, 'data'));
  assert.deepEqual([renamed['0/00000.txt'], renamed['0/0000a.txt']?.hash], [undefined, sha256('image 00000')]);
});

test('a stat-cache shard survives the round trip to disk exactly, its paths sorted as listings are', () => {
  const rows = new Map<string, StatRow>([
    ['b/é ü.png', [0, 1, 2, 2 ** 40, sha256('two')]],
    ['a/1.png', [123, 1732530000123.456, 1732530000999.5, 987654321, sha256('one')]],
  ]);
  const saved = decodeShard(encodeShard({ root: '/data/x', rows, trees: { '': sha256('tree') } }))!;
  assert.deepEqual(
    [saved.root, saved.trees, saved.paths],
    ['/data/x', { '': sha256('tree') }, ['a/1.png', 'b/é ü.png']],
  );
  assert.deepEqual(rowsOf(saved), new Map([...rows].reverse()));
  const empty = decodeShard(encodeShard({ root: '/r', rows: new Map(), trees: {} }))!;
  assert.deepEqual([empty.paths, rowsOf(empty)], [[], new Map()]);
});

test('a damaged or old-format shard costs a re-hash, never a wrong hash', async () => {
  const dir = makeProject({ 'data/a.txt': 'alpha', 'data/b.txt': 'beta' });
  const stateDir = path.join(dir, 'state');
  const cache = new StatCache(stateDir);
  await hashPath(cache, path.join(dir, 'data'));
  cache.flush();
  const [shard] = fs.readdirSync(stateDir);
  assert.match(shard!, /\.bin$/);
  assert.equal(
    decodeShard(fs.readFileSync(path.join(stateDir, shard!)).subarray(0, 40)),
    undefined,
    'a truncated shard is not decoded',
  );

  fs.truncateSync(path.join(stateDir, shard!), 40);
  const afterDamage = new StatCache(stateDir);
  assert.equal((await hashPath(afterDamage, path.join(dir, 'data'))).files['a.txt']!.hash, sha256('alpha'));
  assert.equal(afterDamage.filesRead, 2, 'a truncated shard: both files are read again');

  // A store from before the binary shards: its JSON shard is neither trusted nor left behind.
  fs.rmSync(path.join(stateDir, shard!));
  const legacy = path.join(stateDir, shard!.replace(/\.bin$/, '.json'));
  fs.writeFileSync(
    legacy,
    JSON.stringify({ root: path.join(dir, 'data'), rows: [['a.txt', [5, 0, 0, 0, sha256('wrong')]]] }),
  );
  const upgraded = new StatCache(stateDir);
  assert.equal((await hashPath(upgraded, path.join(dir, 'data'))).files['a.txt']!.hash, sha256('alpha'));
  assert.equal(upgraded.filesRead, 2);
  assert.ok(!fs.existsSync(legacy), 'the old JSON shard is removed');
});
