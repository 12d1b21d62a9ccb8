import { RemoteError, withRetries, type RemoteBackend } from './backend.js';

export interface HttpAuth {
  /** The name of a variable holding a bearer token (never the token: configuration files are shared). */
  tokenEnv?: string;
  /** The name of a variable holding `user:password` for basic authentication (nginx's auth_basic). */
  basicAuthEnv?: string;
}

const TIMEOUT_MS = 120_000;

/**
 * A remote over plain HTTP: GET, HEAD and PUT of `cas/…` and `ac/…` under a base URL, the protocol of Bazel's
 * HTTP remote cache, so any server that stores what is PUT (nginx with WebDAV PUT, a bazel-remote) is one.
 * HTTP has no "create only": a record is PUT after a HEAD found none, and two writers of the same stage key
 * in that instant would both write; the stage's result is the same by its key, so either record is right.
 */
export class HttpRemote implements RemoteBackend {
  private readonly base: URL;
  private readonly headers: Record<string, string> = {};

  constructor(
    readonly label: string,
    url: string,
    auth: HttpAuth = {},
  ) {
    this.base = new URL(url.endsWith('/') ? url : `${url}/`);
    if (auth.tokenEnv) this.headers.authorization = `Bearer ${requiredEnv(auth.tokenEnv, label)}`;
    if (auth.basicAuthEnv) {
      const pair = requiredEnv(auth.basicAuthEnv, label);
      this.headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    }
  }

  async has(rel: string): Promise<boolean> {
    const response = await this.request('HEAD', rel);
    if (response.status === 404) return false;
    this.check(response, 'HEAD', rel);
    return true;
  }

  async get(rel: string): Promise<Buffer | undefined> {
    const response = await this.request('GET', rel);
    if (response.status === 404) return undefined;
    this.check(response, 'GET', rel);
    return Buffer.from(await response.arrayBuffer());
  }

  async put(rel: string, data: Buffer): Promise<void> {
    this.check(await this.request('PUT', rel, data), 'PUT', rel);
  }

  async putNew(rel: string, data: Buffer): Promise<'written' | 'exists'> {
    if (await this.has(rel)) return 'exists';
    await this.put(rel, data);
    return 'written';
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private request(method: string, rel: string, body?: Buffer): Promise<Response> {
    const url = new URL(rel, this.base);
    return withRetries(
      async () => {
        let response: Response;
        try {
          response = await fetch(url, {
            method,
            headers: body ? { ...this.headers, 'content-type': 'application/octet-stream' } : this.headers,
            body,
            signal: AbortSignal.timeout(TIMEOUT_MS),
          });
        } catch (error) {
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          const why = cause?.code ?? cause?.message ?? (error as Error).message;
          throw new RemoteError(`remote ${this.label}: ${method} ${rel} failed: ${why}`, true);
        }
        if (response.status >= 500) {
          await response.body?.cancel();
          throw new RemoteError(`remote ${this.label}: ${method} ${rel} answered ${response.status}`, true);
        }
        return response;
      },
      (error) => error instanceof RemoteError && error.unreachable,
    );
  }

  private check(response: Response, method: string, rel: string): void {
    if (response.ok) return;
    void response.body?.cancel();
    const hint =
      response.status === 401 || response.status === 403
        ? ' (set tokenEnv or basicAuthEnv for this remote, and the variable it names)'
        : response.status === 405 && method === 'PUT'
          ? ' (the server does not accept PUT: enable WebDAV PUT, see docs/remotes.md)'
          : '';
    throw new RemoteError(`remote ${this.label}: ${method} ${rel} answered ${response.status}${hint}`);
  }
}

function requiredEnv(name: string, label: string): string {
  const value = process.env[name];
  if (!value) throw new RemoteError(`remote ${label}: the variable ${name} its configuration names is not set`);
  return value;
}
