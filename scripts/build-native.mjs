// npm install's own step (the root package's `install` script): builds the oneDNN addon (native/dnnl) when
// Debian's libdnnl-dev is installed, so `backend: native` can train on it; without it, says so and leaves the
// wasm backend to train, as before. Never fails the install: a failed build is reported and skipped.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const header = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'].find((f) =>
  fs.existsSync(f),
);
const say = (line) => console.log(`fer-dag: ${line}`);

if (process.env.FER_DAG_SKIP_NATIVE === '1') {
  say('FER_DAG_SKIP_NATIVE=1: the oneDNN addon is not built; training runs on wasm.');
} else if (!header) {
  say('no oneDNN headers (apt-get install libdnnl-dev, then npm install again): training runs on wasm.');
} else {
  let gyp;
  try {
    gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    say('node-gyp is not installed (a devDependency): the oneDNN addon is not built; training runs on wasm.');
  }
  if (gyp) {
    // Node's own headers where the node binary was installed from a package (Debian, NodeSource): node-gyp
    // would otherwise download them, and this machine may have no internet.
    const prefix = path.resolve(path.dirname(process.execPath), '..');
    const local = fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi')) ? [`--nodedir=${prefix}`] : [];
    try {
      execFileSync(process.execPath, [gyp, 'rebuild', ...local], {
        cwd: path.join(root, 'native', 'dnnl'),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      say('built the oneDNN addon (native/dnnl): backend: native is available.');
    } catch (error) {
      const detail = String(error.stderr ?? error.message)
        .split('\n')
        .filter((l) => /error/i.test(l))
        .slice(0, 5);
      say(`the oneDNN addon did not build; training runs on wasm.\n  ${detail.join('\n  ')}`);
    }
  }
}
