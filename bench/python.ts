import { spawnSync } from 'node:child_process';

/**
 * A python3 that can import `module`, installing Debian's `debianPackage` when none can. Debian's packages
 * install into /usr/bin/python3, and a `python3` earlier on PATH (pyenv, a venv) may not see them, so the
 * first interpreter that can import the module wins.
 */
export function pythonWith(module: string, debianPackage: string): string {
  const find = (): string | undefined =>
    ['python3', '/usr/bin/python3'].find(
      (candidate) => spawnSync(candidate, ['-c', `import ${module}`], { encoding: 'utf8' }).status === 0,
    );
  const found = find();
  if (found) return found;
  console.log(`no python3 here can import ${module}; installing the Debian package ${debianPackage}…`);
  const install = `apt-get update && apt-get install -y ${debianPackage}`;
  const r = spawnSync('sh', ['-c', install], { stdio: 'inherit' });
  const after = find();
  if (r.status !== 0 || !after) throw new Error(`could not install ${debianPackage} (${install} failed; are we root?)`);
  return after;
}
