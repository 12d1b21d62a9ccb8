import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Real servers for the remote and queue tests: started on a free port, stopped after, never mocked. */
export interface TestServer {
  url: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Debian puts nginx in /usr/sbin, which a non-root PATH may lack. */
const NGINX = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
export const hasNginx = () => spawnSync(NGINX, ['-v']).status === 0;

/**
 * Debian's nginx serving `/cache/` with WebDAV PUT: the HTTP remote of docs/remotes.md. Its own prefix,
 * pid, logs and temporary folders live in a fresh folder, so it needs no root and touches nothing else.
 */
export async function startNginx(): Promise<TestServer & { root: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-nginx-'));
  const root = path.join(dir, 'data');
  fs.mkdirSync(path.join(root, 'cache'), { recursive: true });
  const port = await freePort();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((name) => `${name}_temp_path ${path.join(dir, name)};`)
    .join('\n    ');
  // As root, nginx's workers would drop to a user that cannot write this folder: they stay root here.
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    `${user}
daemon off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
    access_log off;
    ${temp}
    server {
        listen 127.0.0.1:${port};
        root ${root};
        client_max_body_size 0;
        location /cache/ {
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }
    }
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = `http://127.0.0.1:${port}/cache`;
  await waitForPort(port, child, () => readIfExists(path.join(dir, 'error.log')));
  return {
    url,
    root: path.join(root, 'cache'),
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An S3 endpoint from the s3rver package (it speaks the protocol; production uses a real S3). */
export async function startS3(bucket: string): Promise<TestServer & { env: NodeJS.ProcessEnv; directory: string }> {
  const { default: S3rver } = await import('s3rver');
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-s3-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = (await server.run()) as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    directory,
    // s3rver's fixed credentials, given as the SDK's standard variables, as a user gives real ones.
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    stop: async () => {
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${stderr}${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`server did not listen on ${port}: ${stderr}${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

function readIfExists(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

/** Debian's redis-server in /usr/bin (or on PATH), if installed. */
const REDIS = fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server';
export const hasRedis = () => spawnSync(REDIS, ['--version']).status === 0;

/** A Redis with no persistence on a free port: the queue of the distributed tests. */
export async function startRedis(port?: number): Promise<TestServer & { port: number }> {
  const chosen = port ?? (await freePort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-redis-'));
  const args = ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn(REDIS, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitForPort(chosen, child, () => '');
  return {
    url: `redis://127.0.0.1:${chosen}/0`,
    port: chosen,
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
