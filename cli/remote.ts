import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { CONFIG_FILE, configDir, LOCAL_CONFIG_FILE, loadRemoteConfig } from '../remote/config.js';
import { CliExit, EXIT_OK, EXIT_USAGE } from './common.js';

/** `fer-dag remote list`: the remotes that apply here, the default marked, and the files they come from. */
export function remoteListCommand(flags: { json?: boolean }): number {
  const config = loadRemoteConfig(process.cwd());
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(config)}\n`);
    return EXIT_OK;
  }
  const names = Object.keys(config.remotes).sort();
  if (!names.length) process.stdout.write(`no remotes configured (add one: fer-dag remote add NAME URL --default)\n`);
  for (const name of names) {
    const mark = name === config.default ? ' (default)' : '';
    process.stdout.write(`${name}\t${config.remotes[name]!.url}${mark}\n`);
  }
  if (config.pull) process.stdout.write(`run looks results up in the default remote first (pull: true)\n`);
  return EXIT_OK;
}

/**
 * `fer-dag remote add NAME URL`: writes the remote into the nearest config file (created at the repository's
 * root, or here, when there is none), keeping the file's comments; `--local` writes the uncommitted one.
 */
export function remoteAddCommand(
  name: string,
  url: string,
  flags: { default?: boolean; local?: boolean; endpoint?: string; region?: string; pathStyle?: boolean },
): number {
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) {
    throw new CliExit(EXIT_USAGE, `remote name "${name}": use letters, digits, - and _, starting with a letter`);
  }
  const dir = configDir(process.cwd()) ?? repositoryRoot(process.cwd()) ?? process.cwd();
  const file = path.join(dir, flags.local ? LOCAL_CONFIG_FILE : CONFIG_FILE);
  const document = parseDocument(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  const settings: Record<string, unknown> = { url };
  if (flags.endpoint) settings.endpoint = flags.endpoint;
  if (flags.region) settings.region = flags.region;
  if (flags.pathStyle) settings.pathStyle = true;
  document.setIn(['remotes', name], document.createNode(settings));
  if (flags.default) document.set('default', name);
  fs.writeFileSync(file, document.toString());
  loadRemoteConfig(dir); // what was written must read back valid
  process.stdout.write(`${path.relative(process.cwd(), file) || file}: remote ${name} → ${url}\n`);
  return EXIT_OK;
}

function repositoryRoot(from: string): string | undefined {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, '.git'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}
