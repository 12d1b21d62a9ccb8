import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Hash } from '../cache/hash.js';
import type { Store } from '../cache/store.js';
import { hashPath, type HashedPath } from '../cache/tree.js';
import type { DatasetSpec } from './spec/pipeline.js';

/** Hashes source datasets and workspace paths through the store's stat cache, each at most once per run. */
export class InputHasher {
  private readonly datasets = new Map<string, Promise<HashedPath>>();
  private readonly finished = new Map<string, HashedPath>();

  constructor(
    private readonly store: Store,
    readonly pipelineDir: string,
  ) {}

  dataset(spec: DatasetSpec): Promise<HashedPath> {
    let pending = this.datasets.get(spec.name);
    if (!pending) {
      pending = hashPath(this.store.statCache, spec.path).then((hashed) => {
        this.finished.set(spec.name, hashed);
        return hashed;
      });
      this.datasets.set(spec.name, pending);
    }
    return pending;
  }

  /** A dataset hashed earlier in this run, if any. */
  hashedDataset(name: string): HashedPath | undefined {
    return this.finished.get(name);
  }

  /** One file by absolute path (a model's weights), through the stat cache. */
  async file(abs: string): Promise<Hash | undefined> {
    if (!fs.existsSync(abs)) return undefined;
    return this.store.statCache.hashFile(path.dirname(abs), abs);
  }

  /** A pipeline-relative workspace path (file or folder) as a tree keyed by pipeline-relative paths. */
  async workspacePath(rel: string): Promise<HashedPath | undefined> {
    const abs = path.resolve(this.pipelineDir, rel);
    if (!fs.existsSync(abs)) return undefined;
    return hashPath(this.store.statCache, abs, rel);
  }
}
