import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatDiagnostics, type Diagnostic } from '../engine/spec/diagnostics.js';
import { parseSpecYaml } from '../engine/spec/parse-yaml.js';
import { checkAgainstSchema } from '../engine/spec/schema-check.js';
import type { RemoteBackend } from './backend.js';
import { FolderRemote } from './folder-remote.js';
import { HttpRemote } from './http-remote.js';
import { S3Remote } from './s3-remote.js';

export const CONFIG_FILE = 'fer-dag.config.yaml';
/** Beside it, not committed: a machine's own remotes and switches (DVC's config.local). */
export const LOCAL_CONFIG_FILE = 'fer-dag.config.local.yaml';

export interface RemoteSettings {
  url: string;
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  profile?: string;
  tokenEnv?: string;
  basicAuthEnv?: string;
}

/** Remotes live outside the pipeline's keys, as DVC's do: where a result is kept does not change what it is. */
export interface RemoteConfig {
  remotes: Record<string, RemoteSettings>;
  default?: string;
  pull?: boolean;
  jobs?: number;
  /** The files it was read from, nearest last, for messages. */
  files: string[];
}

export class RemoteConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteConfigError';
  }
}

/** Keys that would put a secret in a shared file: refused with the place secrets go instead. */
const SECRET_KEYS = /^(access_?key(_?id)?|secret(_?access_?key)?|session_?token|password|token|credentials?|auth)$/i;

/**
 * The configuration that applies to a pipeline: `fer-dag.config.yaml` and `fer-dag.config.local.yaml` in the
 * nearest folder, from the pipeline's own up to the repository's root (the folder holding `.git`), that has
 * either. The local file's settings win, remote by remote. Folder URLs are relative to the file naming them.
 */
export function loadRemoteConfig(pipelineDir: string): RemoteConfig {
  const config: RemoteConfig = { remotes: {}, files: [] };
  const dir = configDir(pipelineDir);
  if (!dir) return config;
  for (const name of [CONFIG_FILE, LOCAL_CONFIG_FILE]) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    const part = readConfigFile(file);
    for (const [remote, settings] of Object.entries(part.remotes ?? {})) {
      const url = isFolderUrl(settings.url) ? path.resolve(dir, settings.url) : settings.url;
      config.remotes[remote] = { ...config.remotes[remote], ...settings, url };
    }
    if (part.default !== undefined) config.default = part.default;
    if (part.pull !== undefined) config.pull = part.pull;
    if (part.jobs !== undefined) config.jobs = part.jobs;
    config.files.push(file);
  }
  if (config.default !== undefined && !config.remotes[config.default]) {
    const known = Object.keys(config.remotes);
    throw new RemoteConfigError(
      `${config.files.join(', ')}: default: ${config.default} names no remote ` +
        `(${known.length ? `remotes: ${known.join(', ')}` : 'no remotes are configured'})`,
    );
  }
  return config;
}

/** The folder whose config files apply, or undefined when none has any. */
export function configDir(pipelineDir: string): string | undefined {
  for (let dir = path.resolve(pipelineDir); ; dir = path.dirname(dir)) {
    if ([CONFIG_FILE, LOCAL_CONFIG_FILE].some((name) => fs.existsSync(path.join(dir, name)))) return dir;
    if (fs.existsSync(path.join(dir, '.git')) || path.dirname(dir) === dir) return undefined;
  }
}

function readConfigFile(file: string): Partial<Omit<RemoteConfig, 'files'>> {
  const shown = path.relative(process.cwd(), file) || file;
  const parsed = parseSpecYaml(shown, fs.readFileSync(file, 'utf8'));
  if ('diagnostics' in parsed) throw new RemoteConfigError(formatDiagnostics(parsed.diagnostics));
  const raw = parsed.raw ?? {};
  const secrets: Diagnostic[] = [];
  for (const [name, settings] of Object.entries((raw as { remotes?: Record<string, unknown> }).remotes ?? {})) {
    for (const key of Object.keys(settings && typeof settings === 'object' ? settings : {})) {
      if (!SECRET_KEYS.test(key)) continue;
      secrets.push({
        code: 'schema',
        severity: 'error',
        file: shown,
        path: `remotes.${name}.${key}`,
        message:
          `remotes.${name}.${key}: credentials never go in a fer-dag config file; S3 takes them from ` +
          'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a profile, HTTP from the variable tokenEnv or basicAuthEnv names',
        at: parsed.sourceMap.locate(['remotes', name, key], { key: true }),
      });
    }
  }
  if (secrets.length) throw new RemoteConfigError(formatDiagnostics(secrets));
  const problems = checkAgainstSchema(shown, 'remote-config.schema.json', raw, [], parsed.sourceMap);
  if (problems.length) throw new RemoteConfigError(formatDiagnostics(problems));
  return raw as Partial<Omit<RemoteConfig, 'files'>>;
}

const isFolderUrl = (url: string) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(url);

/**
 * The remote a command means: `--remote R` names a configured remote, or is itself a URL or a folder (relative
 * to the working folder); without it, the configured default.
 */
export function openRemote(config: RemoteConfig, given: string | undefined): RemoteBackend {
  const name = given ?? config.default;
  if (name === undefined) {
    const where = config.files.length ? config.files.join(', ') : `no ${CONFIG_FILE} was found`;
    throw new RemoteConfigError(
      `no remote given and no default one (${where}): pass --remote NAME|URL|FOLDER, or add one with ` +
        '`fer-dag remote add NAME URL --default`',
    );
  }
  const settings = config.remotes[name];
  if (settings) return backendFor(name, settings);
  if (/^(s3|https?):\/\//i.test(name) || name.includes('/') || name.startsWith('.')) {
    return backendFor(name, { url: isFolderUrl(name) ? path.resolve(name) : name });
  }
  const known = Object.keys(config.remotes);
  throw new RemoteConfigError(
    `--remote ${name}: no remote of that name (${known.length ? `configured: ${known.join(', ')}` : 'none configured'}); ` +
      'give a name, an s3:// or http(s):// URL, or a folder path such as ./shared-store',
  );
}

/** The backend for a URL; messages call it by its name and where it is ("lab (s3://…)"), or by the URL alone. */
function backendFor(name: string, settings: RemoteSettings): RemoteBackend {
  const { url } = settings;
  const label = name === url ? url : `${name} (${url})`;
  if (/^s3:\/\//i.test(url)) return new S3Remote(label, url, settings);
  if (/^https?:\/\//i.test(url)) return new HttpRemote(label, url, settings);
  if (!isFolderUrl(url))
    throw new RemoteConfigError(`remote ${name}: ${url}: fer-dag reads s3://, http(s):// or a folder`);
  return new FolderRemote(label, url);
}
