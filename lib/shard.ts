import { createHash } from 'node:crypto';

/** One part of a stage's per-item work: items `inShard` selects for `index` of `count`. */
export interface Shard {
  index: number;
  count: number;
}

/**
 * Whether an item (named by a stable key: its image blob, a (model, image) pair) belongs to a shard. The split
 * hashes the key, so it does not depend on the items' order or on which other items exist: the same image
 * falls in the same shard on every machine.
 */
export function inShard(itemKey: string, shard: Shard): boolean {
  return createHash('sha256').update(itemKey).digest().readUInt32LE(0) % shard.count === shard.index;
}
