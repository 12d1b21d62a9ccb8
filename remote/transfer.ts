import { sha256, stableJson, type Hash } from '../cache/hash.js';
import { importMemoPack, packBlobs, readMemoPack } from '../cache/memo-pack.js';
import { directBlobs, parseRecord, readRefs, sealRecord, type StageRecord, type Store } from '../cache/store.js';
import { mapBounded } from '../lib/parallel/map-bounded.js';
import { blobPath, putMissingBlob, recordPath, RemoteError, type RemoteBackend } from './backend.js';

/** A stage result to move: the stage's name (for messages) and its key. */
export interface ResultRef {
  stage: string;
  key: Hash;
}

export interface TransferCounts {
  /** Objects handled so far (sent, fetched or found already there) out of those known to be needed. */
  done: number;
  total: number;
  /** Bytes actually sent or fetched. */
  bytes: number;
}

export interface TransferOptions {
  /** Requests in flight at once. */
  jobs: number;
  onProgress?: (counts: TransferCounts) => void;
}

export interface PushSummary extends TransferCounts {
  /** Records written now, and those the remote already held. */
  written: string[];
  present: string[];
  /** Stages whose result is not whole in the local store: nothing of theirs was pushed. */
  notLocal: { stage: string; reason: string }[];
}

export type PullOutcome = 'local' | 'pulled' | 'absent';

export interface PullSummary extends TransferCounts {
  outcomes: Record<string, PullOutcome>;
  memoEntries: number;
}

/**
 * Uploads stage results: every blob of each record's closure (outputs, logs, the refs list and what it names,
 * the memo pack and the blobs its entries name), then the records, each only after all its blobs are there.
 * What the remote already has is skipped, so a push that was stopped goes on where it was.
 */
export async function pushResults(
  store: Store,
  remote: RemoteBackend,
  results: readonly ResultRef[],
  options: TransferOptions,
): Promise<PushSummary> {
  const counts: TransferCounts = { done: 0, total: 0, bytes: 0 };
  const tick = () => options.onProgress?.({ ...counts });
  const summary: PushSummary = { ...counts, written: [], present: [], notLocal: [] };
  const toPush: { ref: ResultRef; record: StageRecord }[] = [];
  const unique = [...new Map(results.map((ref) => [ref.key, ref])).values()];
  const onRemote = await mapBounded(unique, options.jobs, (ref) => remote.has(recordPath(ref.key)));
  unique.forEach((ref, i) => {
    const found = onRemote[i] ? undefined : store.findResult(ref.key);
    if (!found) summary.present.push(ref.stage);
    else if (found.state === 'complete') toPush.push({ ref, record: found.record });
    else
      summary.notLocal.push({ stage: ref.stage, reason: found.state === 'absent' ? 'never run here' : found.reason });
  });

  const blobs = new Set<Hash>();
  for (const { record } of toPush) {
    for (const hash of store.recordBlobs(record)) blobs.add(hash);
    for (const hash of record.memo ? localPackBlobs(store, record.memo) : []) blobs.add(hash);
  }
  counts.total = blobs.size + toPush.length;
  tick();
  await mapBounded([...blobs], options.jobs, async (hash) => {
    counts.bytes += await putMissingBlob(remote, hash, () => store.readVerifiedBlob(hash, false));
    counts.done++;
    tick();
  });
  await mapBounded(toPush, options.jobs, async ({ ref, record }) => {
    const text = Buffer.from(stableJson(sealRecord(record)));
    const outcome = await remote.putNew(recordPath(ref.key), text);
    (outcome === 'written' ? summary.written : summary.present).push(ref.stage);
    if (outcome === 'written') counts.bytes += text.byteLength;
    counts.done++;
    tick();
  });
  return { ...summary, ...counts };
}

/**
 * Downloads stage results the local store lacks: each record is read and checked (its key, its checksum),
 * its blobs fetched and verified by their hashes, and only then the record written, as a run writes one. The
 * memo entries it carries join the local memo. A result the remote does not have is 'absent'.
 */
export async function pullResults(
  store: Store,
  remote: RemoteBackend,
  results: readonly ResultRef[],
  options: TransferOptions,
): Promise<PullSummary> {
  const puller = new ResultPuller(store, remote, options);
  const outcomes: Record<string, PullOutcome> = {};
  for (const ref of results) outcomes[ref.stage] = await puller.pull(ref);
  return { ...puller.counts, outcomes, memoEntries: puller.memoEntries };
}

/** The blobs a memo pack's entries name that this store holds (an entry whose blob gc took is not shared). */
export function localPackBlobs(store: Store, pack: Hash): Hash[] {
  return packBlobs(readMemoPack(store.readVerifiedBlob(pack, false))).filter((hash) => store.hasBlob(hash));
}

/** The record a remote holds under a key, checked (its key, its checksum); undefined when it has none. */
export async function readRemoteRecord(remote: RemoteBackend, ref: ResultRef): Promise<StageRecord | undefined> {
  const text = await remote.get(recordPath(ref.key));
  if (!text) return undefined;
  const read = parseRecord(text.toString('utf8'), ref.key);
  if (read.state !== 'ok' || !read.verified) {
    const why = read.state === 'damaged' ? read.reason : 'its record has no checksum';
    throw new RemoteError(`remote ${remote.label}: the result of stage ${ref.stage} cannot be used: ${why}`);
  }
  return read.record;
}

/** Pulls one result at a time (`run --pull` asks stage by stage), its blobs several at once. */
export class ResultPuller {
  readonly counts: TransferCounts = { done: 0, total: 0, bytes: 0 };
  memoEntries = 0;

  constructor(
    private readonly store: Store,
    readonly remote: RemoteBackend,
    private readonly options: TransferOptions,
  ) {}

  async pull(ref: ResultRef): Promise<PullOutcome> {
    if (this.store.findResult(ref.key).state === 'complete') return 'local';
    const record = await readRemoteRecord(this.remote, ref);
    if (!record) return 'absent';
    await this.fetchBlobs(ref, directBlobs(record), true);
    if (record.refs) await this.fetchBlobs(ref, readRefs(this.store.readVerifiedBlob(record.refs)), true);
    await this.store.putRecord(record);
    if (record.memo) await this.importMemoPack(ref, record.memo);
    return 'pulled';
  }

  /**
   * Adds a memo pack's entries to the local memo (the pack fetched if missing, then the blobs its entries name,
   * where the remote has them): a pulled record's, or a shard's (distributed/worker.ts).
   */
  async importMemoPack(ref: ResultRef, pack: Hash): Promise<void> {
    await this.fetchBlobs(ref, [pack], true);
    const entries = readMemoPack(this.store.readVerifiedBlob(pack));
    await this.fetchBlobs(ref, packBlobs(entries), false);
    const memoOf = (namespace: string) => this.store.memo(namespace);
    this.memoEntries += importMemoPack(entries, memoOf, (hash) => this.store.hasBlob(hash));
  }

  /** Fetches the blobs the store lacks; `required` ones missing from the remote are an error. */
  async fetchBlobs(ref: ResultRef, hashes: readonly Hash[], required: boolean): Promise<void> {
    const missing = [...new Set(hashes)].filter((hash) => !this.store.hasBlob(hash));
    this.counts.total += missing.length;
    this.options.onProgress?.({ ...this.counts });
    await mapBounded(missing, this.options.jobs, async (hash) => {
      const data = await this.remote.get(blobPath(hash));
      if (!data && required) {
        throw new RemoteError(
          `remote ${this.remote.label}: blob ${hash.slice(0, 12)}… of stage ${ref.stage}'s result is missing ` +
            '(the remote is incomplete: push the stage again from a machine that has it)',
        );
      }
      if (data) {
        const actual = sha256(data);
        if (actual !== hash) {
          throw new RemoteError(
            `remote ${this.remote.label}: blob ${hash.slice(0, 12)}… of stage ${ref.stage} is corrupt there ` +
              `(its bytes hash to ${actual.slice(0, 12)}…); it was not used`,
          );
        }
        this.store.putBytes(data);
        this.counts.bytes += data.byteLength;
      }
      this.counts.done++;
      this.options.onProgress?.({ ...this.counts });
    });
  }
}
