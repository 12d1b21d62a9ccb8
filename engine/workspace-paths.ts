import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Where a stage may write. A stage's outs are deleted before it runs and before a cached copy is restored, so an
 * out must name something strictly inside the pipeline's folder, also once symlinks are followed, and must not
 * be, hold or lie inside anything the engine keeps there (the store, a source dataset, the pipeline file). Bazel
 * confines outputs to its output tree and git refuses to write beyond a symlink; this is the same rule. The loader
 * refuses such an out with a position, and every removal checks it again (`removeWorkspaceOut`).
 */

/** A path no out may be, hold or lie inside, and how to name it in a message. */
export interface ProtectedPath {
  path: string;
  what: string;
}

export interface ProtectedPlaces {
  file: string;
  lockFile: string;
  storeDir: string;
  datasets: Iterable<{ name: string; path: string }>;
}

export function protectedPaths(pipeline: ProtectedPlaces): ProtectedPath[] {
  return [
    { path: pipeline.storeDir, what: 'the store' },
    { path: pipeline.file, what: 'the pipeline file' },
    { path: pipeline.lockFile, what: "the pipeline's lockfile" },
    ...[...pipeline.datasets].map((d) => ({ path: d.path, what: `source dataset "${d.name}"` })),
  ];
}

/** Why `out`, as written in the spec, may not be deleted and rewritten by a stage; undefined when it may. */
export function outProblem(
  pipelineDir: string,
  out: string,
  guarded: readonly ProtectedPath[] = [],
): string | undefined {
  if (out.trim() === '') return "is empty; name a file or folder inside the pipeline's folder";
  if (path.isAbsolute(out) || path.win32.isAbsolute(out)) {
    return "is an absolute path; an out is relative to the pipeline's folder and stays inside it";
  }
  const root = path.resolve(pipelineDir);
  const target = path.resolve(root, out);
  if (target === root) return "is the pipeline's folder itself; name a file or folder inside it";
  if (!isInside(root, target)) return "leaves the pipeline's folder; an out must stay inside it";
  const realRoot = realPathOf(root) ?? root;
  const real = realPathOf(target);
  if (real === undefined) return 'goes through a symlink that points nowhere; remove the link or name another path';
  if (!isInside(realRoot, real)) {
    return real === realRoot
      ? "is the pipeline's folder itself, through a symlink"
      : `reaches ${real} through a symlink, outside the pipeline's folder`;
  }
  for (const place of guarded) {
    const kept = realPathOf(path.resolve(place.path)) ?? path.resolve(place.path);
    const shown = path.relative(root, place.path) || '.';
    if (kept === real) return `is ${place.what} (${shown}); a stage deletes its outs before it runs`;
    if (isInside(real, kept)) return `holds ${place.what} (${shown}); a stage deletes its outs before it runs`;
    if (isInside(kept, real)) return `lies inside ${place.what} (${shown}), which no stage may write`;
  }
  return undefined;
}

export class UnsafeOutError extends Error {}

/**
 * Deletes a stage's out before it is rewritten, after checking it again: a spec edited behind the loader's back,
 * or a symlink made since, must not reach rm.
 */
export function removeWorkspaceOut(pipelineDir: string, out: string, guarded: readonly ProtectedPath[] = []): void {
  const problem = outProblem(pipelineDir, out, guarded);
  if (problem) throw new UnsafeOutError(`refusing to delete out "${out}": it ${problem}`);
  fs.rmSync(path.resolve(pipelineDir, out), { recursive: true, force: true });
}

function isInside(outer: string, inner: string): boolean {
  const prefix = outer.endsWith(path.sep) ? outer : `${outer}${path.sep}`;
  return inner.startsWith(prefix);
}

/**
 * The real path of `target`: the longest prefix that exists (a dangling link counts as existing) resolved with
 * realpath, and the rest appended. Undefined when that prefix is a symlink pointing nowhere.
 */
function realPathOf(target: string): string | undefined {
  let existing = target;
  const rest: string[] = [];
  while (!lexists(existing)) {
    const parent = path.dirname(existing);
    if (parent === existing) break;
    rest.unshift(path.basename(existing));
    existing = parent;
  }
  try {
    return path.join(fs.realpathSync(existing), ...rest);
  } catch {
    return undefined;
  }
}

function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
