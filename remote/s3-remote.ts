import type { S3Client } from '@aws-sdk/client-s3';
import { RemoteError, type RemoteBackend } from './backend.js';

export interface S3Options {
  /** An S3-compatible endpoint (MinIO, Ceph): otherwise AWS, or AWS_ENDPOINT_URL from the environment. */
  endpoint?: string;
  region?: string;
  /** Bucket in the path rather than the host name: what MinIO and most self-hosted S3 APIs need. */
  pathStyle?: boolean;
  /** A profile of ~/.aws/config; credentials otherwise come from the SDK's default chain. */
  profile?: string;
}

type Sdk = typeof import('@aws-sdk/client-s3');

/**
 * A remote in an S3 bucket, through the AWS SDK v3: credentials, region and endpoint come from the SDK's
 * standard chain (environment, profile, instance role) unless the configuration names them; never from a
 * fer-dag file. A record is written with `If-None-Match: *` after a HEAD found none, so on AWS (and any
 * store that honours conditional writes) the first writer wins; a store that ignores the header behaves as
 * HTTP remotes do (see http-remote.ts).
 */
export class S3Remote implements RemoteBackend {
  private readonly bucket: string;
  private readonly prefix: string;
  private client: Promise<{ sdk: Sdk; client: S3Client }> | undefined;

  constructor(
    readonly label: string,
    url: string,
    private readonly options: S3Options = {},
  ) {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
    if (!match) throw new RemoteError(`remote ${label}: ${url} is not s3://bucket/prefix`);
    this.bucket = match[1]!;
    this.prefix = match[2]!.replace(/\/+$/, '');
  }

  async has(rel: string): Promise<boolean> {
    const { sdk, client } = await this.connect();
    try {
      await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(rel) }));
      return true;
    } catch (error) {
      if (status(error) === 404) return false;
      throw this.failed('HEAD', rel, error);
    }
  }

  async get(rel: string): Promise<Buffer | undefined> {
    const { sdk, client } = await this.connect();
    try {
      const answer = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.key(rel) }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    } catch (error) {
      if (status(error) === 404) return undefined;
      throw this.failed('GET', rel, error);
    }
  }

  async put(rel: string, data: Buffer): Promise<void> {
    const { sdk, client } = await this.connect();
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.key(rel), Body: data }));
    } catch (error) {
      throw this.failed('PUT', rel, error);
    }
  }

  async putNew(rel: string, data: Buffer): Promise<'written' | 'exists'> {
    if (await this.has(rel)) return 'exists';
    const { sdk, client } = await this.connect();
    try {
      const put = { Bucket: this.bucket, Key: this.key(rel), Body: data, IfNoneMatch: '*' };
      await client.send(new sdk.PutObjectCommand(put));
      return 'written';
    } catch (error) {
      if (status(error) === 412) return 'exists';
      throw this.failed('PUT', rel, error);
    }
  }

  async close(): Promise<void> {
    if (this.client) (await this.client).client.destroy();
  }

  private key(rel: string): string {
    return this.prefix ? `${this.prefix}/${rel}` : rel;
  }

  /** The SDK is loaded on first use: commands without an S3 remote do not pay for it. */
  private connect(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.client ??= (async () => {
      // The SDK warns once per process that its releases after January 2027 need Node 22; fer-dag pins a
      // release that supports Node 20, so the warning is noise in every command's output.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      const sdk = await import('@aws-sdk/client-s3');
      const client = new sdk.S3Client({
        ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
        // A self-hosted endpoint (MinIO) ignores the region, but the SDK needs one.
        ...(this.options.region || (this.options.endpoint && !process.env.AWS_REGION)
          ? { region: this.options.region ?? 'us-east-1' }
          : {}),
        ...(this.options.profile ? { profile: this.options.profile } : {}),
        forcePathStyle: this.options.pathStyle ?? false,
        // Checksums only where S3 requires them: MinIO, Ceph and others reject the SDK's default trailers.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      return { sdk, client };
    })();
    return this.client;
  }

  private failed(method: string, rel: string, error: unknown): RemoteError {
    const detail = (error as Error).message || ((error as { name?: string }).name ?? 'error');
    const hint = /credential/i.test(detail)
      ? ' (give credentials as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)'
      : /region/i.test(detail)
        ? ' (set AWS_REGION, or region: in the remote configuration)'
        : '';
    const code = status(error);
    const unreachable = code === undefined || code >= 500; // no answer at all, or the service's own failure
    return new RemoteError(`remote ${this.label}: ${method} ${this.key(rel)} failed: ${detail}${hint}`, unreachable);
  }
}

function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}
