import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Store, type StageRecord } from '../cache/store.js';

// Issue 17, item 10: a power loss must not leave a record naming data that never reached the disk. The file
// system calls the store makes are logged (node:fs patched for this test only), and their order checked.

const realFs = createRequire(import.meta.url)('node:fs') as typeof fs;

/** Logs `fsync <path>` and `rename <target>` in call order while `work` runs. */
async function fileSystemCalls(work: () => Promise<void>): Promise<string[]> {
  const calls: string[] = [];
  const pathOfFd = new Map<number, string>();
  const saved = {
    openSync: realFs.openSync,
    fsyncSync: realFs.fsyncSync,
    renameSync: realFs.renameSync,
    open: realFs.promises.open,
  };
  realFs.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
    const fd = (saved.openSync as (...a: unknown[]) => number)(file, ...rest);
    pathOfFd.set(fd, String(file));
    return fd;
  }) as typeof fs.openSync;
  realFs.fsyncSync = (fd: number) => {
    calls.push(`fsync ${pathOfFd.get(fd)}`);
    saved.fsyncSync(fd);
  };
  realFs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    calls.push(`rename ${String(to)}`);
    saved.renameSync(from, to);
  };
  realFs.promises.open = (async (file: fs.PathLike, flags?: string) => {
    const handle = await saved.open(file, flags);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      calls.push(`fsync ${String(file)}`);
      await sync();
    };
    return handle;
  }) as typeof fs.promises.open;
  syncBuiltinESMExports();
  try {
    await work();
  } finally {
    Object.assign(realFs, { openSync: saved.openSync, fsyncSync: saved.fsyncSync, renameSync: saved.renameSync });
    realFs.promises.open = saved.open;
    syncBuiltinESMExports();
  }
  return calls;
}

test('a record is renamed into place only after its blobs, their folders and its own bytes are flushed', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-durable-'));
  const store = new Store(root);
  const output = store.putBytes('an output');
  const image = store.putBytes('an image the manifest names');
  const record: StageRecord = {
    recordVersion: 2,
    key: 'a'.repeat(64),
    stage: 's',
    type: 'command',
    version: '1',
    material: {},
    outputs: { 'out.txt': { hash: output, size: 9 } },
    treeHash: 'b'.repeat(64),
    refs: store.putBytes(`${image}\n`),
    runtime: {},
    durationMs: 1,
    finishedAt: '2026-01-01T00:00:00.000Z',
  };

  const calls = await fileSystemCalls(async () => {
    await store.putRecord(record);
  });
  const at = (call: string) => {
    const index = calls.indexOf(call);
    assert.ok(index >= 0, `${call} was not made; calls: ${calls.join(', ')}`);
    return index;
  };
  const recordFile = store.recordPath(record.key);
  const renamed = at(`rename ${recordFile}`);
  for (const blob of [output, image, record.refs!]) {
    assert.ok(at(`fsync ${store.blobPath(blob)}`) < renamed, `blob ${blob} flushed before the record`);
    assert.ok(
      at(`fsync ${path.dirname(store.blobPath(blob))}`) < renamed,
      'its shard folder flushed before the record',
    );
  }
  const ownBytes = calls.findIndex((c) =>
    c.startsWith(`fsync ${path.join(root, 'tmp', path.basename(recordFile))}.tmp-`),
  );
  assert.ok(ownBytes >= 0 && ownBytes < renamed, "the record's own bytes flushed before its rename");
  assert.ok(at(`fsync ${path.dirname(recordFile)}`) > renamed, 'the runs/ folder flushed after the rename');
  assert.equal(store.readRecord(record.key).state, 'ok');
  fs.rmSync(root, { recursive: true, force: true });
});

test('a stage with many new blobs flushes them with one syncfs before its record is renamed', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-durable-'));
  const store = new Store(root);
  const images = Array.from({ length: 600 }, (_, i) => store.putBytes(`image ${i}`));
  const record: StageRecord = {
    recordVersion: 2,
    key: 'e'.repeat(64),
    stage: 's',
    type: 'merge',
    version: '1',
    material: {},
    outputs: {},
    treeHash: 'f'.repeat(64),
    refs: store.putBytes(`${images.join('\n')}\n`),
    runtime: {},
    durationMs: 1,
    finishedAt: '',
  };
  const childProcess = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const realSpawnSync = childProcess.spawnSync;
  let syncfsCalled = false;
  const calls = await fileSystemCalls(async () => {
    childProcess.spawnSync = ((command: string, args: string[], options: object) => {
      if (command === 'sync') syncfsCalled = true;
      return realSpawnSync(command, args, options);
    }) as typeof childProcess.spawnSync;
    syncBuiltinESMExports();
    try {
      await store.putRecord(record);
    } finally {
      childProcess.spawnSync = realSpawnSync;
      syncBuiltinESMExports();
    }
  });
  if (process.platform === 'linux') {
    assert.ok(syncfsCalled, 'one syncfs instead of 600 fsyncs');
    assert.ok(
      calls.filter((c) => c.includes(`${path.sep}objects${path.sep}`)).length === 0,
      calls.slice(0, 5).join(', '),
    );
  }
  assert.ok(
    calls.indexOf(`rename ${store.recordPath(record.key)}`) < calls.indexOf(`fsync ${path.join(root, 'runs')}`),
  );
  fs.rmSync(root, { recursive: true, force: true });
});
