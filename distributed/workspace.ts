import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256, stableJson, type Hash } from '../cache/hash.js';
import type { Store } from '../cache/store.js';
import { hashPath } from '../cache/tree.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import { toPosix } from '../engine/paths.js';
import { mapBounded } from '../lib/parallel/map-bounded.js';
import { blobPath, putMissingBlob, RemoteError, type RemoteBackend } from '../remote/backend.js';

/**
 * What a worker needs of the coordinator's project to run its stages: the pipeline file, the source datasets
 * and the files stages depend on that no stage produces (a command's scripts). Sent as blobs through the remote
 * with a manifest naming them, so workers share nothing with the coordinator but Redis and the remote.
 */
export interface WorkspaceManifest {
  manifestVersion: 1;
  /** The pipeline file, relative to the manifest's root (`/`-separated). */
  pipeline: string;
  /** Every file, relative to the root → its sha256. */
  files: Record<string, Hash>;
  /** The files with an execute bit (a command stage's `./prepare.sh`): made executable on the worker. */
  executable: string[];
}

/** Builds the manifest (hashing through the store's stat cache) and uploads what the remote lacks; returns its hash. */
export async function publishWorkspace(
  pipeline: Pipeline,
  store: Store,
  remote: RemoteBackend,
  jobs: number,
): Promise<Hash> {
  const produced = [...pipeline.stages.values()].flatMap((stage) => stage.outs);
  const sourceDeps = [...pipeline.stages.values()]
    .flatMap((stage) => stage.deps)
    .filter((dep) => !produced.some((out) => dep === out || dep.startsWith(`${out}/`)));
  const paths = [
    pipeline.file,
    ...[...pipeline.datasets.values()].map((d) => d.path),
    ...sourceDeps.map((dep) => path.resolve(pipeline.dir, dep)),
  ].filter((p) => fs.existsSync(p));
  const root = commonAncestor(paths.map((p) => path.dirname(p)).concat(pipeline.dir));
  const files: Record<string, Hash> = {};
  const executable: string[] = [];
  const sources = new Map<Hash, string>();
  for (const target of new Set(paths)) {
    const hashed = await hashPath(store.statCache, target, toPosix(path.relative(root, target)));
    for (const [rel, entry] of Object.entries(hashed.files)) {
      files[rel] = entry.hash;
      const file = path.join(root, ...rel.split('/'));
      sources.set(entry.hash, file);
      if (fs.statSync(file).mode & 0o111) executable.push(rel);
    }
  }
  const manifest: WorkspaceManifest = {
    manifestVersion: 1,
    pipeline: toPosix(path.relative(root, pipeline.file)),
    files,
    executable: executable.sort(),
  };
  const text = Buffer.from(stableJson(manifest));
  const hash = sha256(text);
  await mapBounded([...sources], jobs, ([blob, file]) => putMissingBlob(remote, blob, () => fs.readFileSync(file)));
  await putMissingBlob(remote, hash, () => text);
  return hash;
}

/**
 * The workspace a manifest describes, under `dir/<hash>/`: fetched once (every blob checked by its hash), then
 * reused. A slot of the worker gets its own copy made of hard links (`slotDir`), so stages restoring their outs
 * in one slot never touch another's files. Returns the pipeline file in the slot's copy.
 */
export async function materializeWorkspace(
  remote: RemoteBackend,
  hash: Hash,
  dir: string,
  slotDir: string,
  jobs: number,
): Promise<string> {
  const shared = path.join(dir, hash);
  if (!fs.existsSync(path.join(shared, '.complete'))) await fetchWorkspace(remote, hash, shared, jobs);
  const manifest = JSON.parse(fs.readFileSync(path.join(shared, '.manifest.json'), 'utf8')) as WorkspaceManifest;
  const slot = path.join(slotDir, hash);
  if (!fs.existsSync(path.join(slot, '.complete'))) {
    for (const rel of Object.keys(manifest.files)) {
      const target = path.join(slot, ...rel.split('/'));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.rmSync(target, { force: true });
      try {
        fs.linkSync(path.join(shared, ...rel.split('/')), target);
      } catch {
        fs.copyFileSync(path.join(shared, ...rel.split('/')), target);
      }
    }
    fs.writeFileSync(path.join(slot, '.complete'), '');
  }
  return path.join(slot, ...manifest.pipeline.split('/'));
}

async function fetchWorkspace(remote: RemoteBackend, hash: Hash, target: string, jobs: number): Promise<void> {
  const fetchChecked = async (blob: Hash): Promise<Buffer> => {
    const data = await remote.get(blobPath(blob));
    if (!data) throw new RemoteError(`remote ${remote.label}: the workspace blob ${blob.slice(0, 12)}… is missing`);
    if (sha256(data) !== blob) {
      throw new RemoteError(`remote ${remote.label}: the workspace blob ${blob.slice(0, 12)}… is corrupt there`);
    }
    return data;
  };
  const text = await fetchChecked(hash);
  const manifest = JSON.parse(text.toString('utf8')) as WorkspaceManifest;
  if (manifest.manifestVersion !== 1)
    throw new RemoteError(`workspace ${hash.slice(0, 12)}…: not a version-1 manifest`);
  const temp = `${target}.partial-${process.pid}-${Date.now()}`;
  const executable = new Set(manifest.executable);
  await mapBounded(Object.entries(manifest.files), jobs, async ([rel, blob]) => {
    const normal = path.posix.normalize(rel);
    if (normal.startsWith('../') || path.posix.isAbsolute(normal))
      throw new RemoteError(`workspace path ${rel} escapes it`);
    const file = path.join(temp, ...normal.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, await fetchChecked(blob), { mode: executable.has(rel) ? 0o755 : 0o644 });
  });
  fs.writeFileSync(path.join(temp, '.manifest.json'), text);
  fs.writeFileSync(path.join(temp, '.complete'), '');
  try {
    fs.renameSync(temp, target);
  } catch {
    fs.rmSync(temp, { recursive: true, force: true }); // another slot got there first: its copy is the same
  }
}

function commonAncestor(dirs: string[]): string {
  let common = path.resolve(dirs[0]!);
  for (const dir of dirs.slice(1)) {
    const resolved = path.resolve(dir);
    while (resolved !== common && !resolved.startsWith(common.endsWith(path.sep) ? common : common + path.sep)) {
      common = path.dirname(common);
    }
  }
  return common;
}
