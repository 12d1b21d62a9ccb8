import type { Hash } from '../cache/hash.js';

/**
 * One kind of remote (a folder, an HTTP cache, an S3 bucket) as the transfers see it: objects under relative
 * paths. Blobs live at `cas/ab/cdef…` (by sha256), stage records at `ac/<key>` (by stage key), as Bazel's
 * HTTP cache lays out its CAS and action cache, so the same tree works on every kind.
 */
export interface RemoteBackend {
  /** What messages call it: the configured name and where it is. */
  readonly label: string;
  has(rel: string): Promise<boolean>;
  /** The object's bytes, or undefined when there is none. */
  get(rel: string): Promise<Buffer | undefined>;
  /** Writes an object; writing a blob twice is harmless, its bytes are the same. */
  put(rel: string, data: Buffer): Promise<void>;
  /**
   * Writes only where nothing is yet (a stage record: the first writer wins, nothing is overwritten);
   * 'exists' when something already was.
   */
  putNew(rel: string, data: Buffer): Promise<'written' | 'exists'>;
  close(): Promise<void>;
}

export const blobPath = (hash: Hash) => `cas/${hash.slice(0, 2)}/${hash.slice(2)}`;
export const recordPath = (key: Hash) => `ac/${key}`;

/** A remote that cannot be reached or refused a request: said in one line naming the remote and the object. */
export class RemoteError extends Error {
  /**
   * @param unreachable the remote (or queue) did not answer, or answered a server error: worth another try later,
   *   and a reason for `run --pull` to stop asking it for the rest of the run; false when it refused or is corrupt.
   */
  constructor(
    message: string,
    readonly unreachable = false,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** Uploads a blob unless the remote has it; the bytes are read only then. Returns the bytes sent. */
export async function putMissingBlob(remote: RemoteBackend, hash: Hash, bytes: () => Buffer): Promise<number> {
  if (await remote.has(blobPath(hash))) return 0;
  const data = bytes();
  await remote.put(blobPath(hash), data);
  return data.byteLength;
}

/** Retries what may pass (a reset connection, a 5xx, a timeout) a few times with a growing pause. */
export async function withRetries<T>(what: () => Promise<T>, transient: (error: unknown) => boolean): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await what();
    } catch (error) {
      if (attempt >= 3 || !transient(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * 4 ** attempt));
    }
  }
}
