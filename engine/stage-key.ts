import { hashJson, type Hash } from '../cache/hash.js';
import type { CheckSpec } from './checks.js';

/**
 * Everything that determines what a stage produces. The stage key is the sha256 of this object's canonical
 * JSON (keys sorted at every depth, no whitespace), so YAML comments, key order and formatting never change
 * it, while any change of meaning does. It is stored in the stage record and the lockfile, so `status` and
 * `audit` can say which field changed.
 */
export interface KeyMaterial {
  /** The stage type: two types given the same params do different work. */
  type: string;
  /** The implementation's version, bumped when its output for the same inputs changes. */
  version: string;
  /** The stage's params after schema defaults are applied, so spelling out a default changes nothing. */
  params: Record<string, unknown>;
  /** The pipeline seed: every random choice of the stage derives from it. */
  seed: number;
  /** The stage's name: its random stream is derived from seed and name, so a renamed stage draws differently. */
  stream: string;
  /** Upstream stages by their output-tree hash: if an upstream reran to identical output, nothing below reruns. */
  inputs: Record<string, Hash>;
  /** Source datasets by content tree hash: editing, adding or deleting one image changes it. */
  datasets: Record<string, Hash>;
  /**
   * How each source dataset is read: its format and reading options (label map, label file, downsample …), not
   * where it lives. The same files read another way are another dataset. Absent when the stage reads no
   * dataset, so the keys of such stages are what they were before this field existed.
   */
  sources?: Record<string, Record<string, unknown>>;
  /** Workspace files or folders a command reads (`deps`), by content tree hash. */
  deps: Record<string, Hash>;
  /** Model files (pretrained weights) by hash. */
  models: Record<string, Hash>;
  /**
   * For a stage type that reads its upstream stages' check outcomes (`readsChecks`): each upstream stage's checks
   * (upstream name → its checks as written, severity filled in). The outcomes follow from these and the upstream
   * output trees already in `inputs`. Absent when no upstream has checks, and for every other stage: a check
   * never changes what a stage that cannot see it makes.
   */
  upstreamChecks?: Record<string, CheckSpec[]>;
}

export function stageKey(material: KeyMaterial): Hash {
  return hashJson(material);
}
