import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../cache/store.js';
import { auditAgainstStore, auditLockfiles, type Finding } from '../engine/audit.js';
import { LockfileError, readLockfile, type Lockfile } from '../engine/lockfile.js';
import { loadPipeline } from '../engine/spec/load.js';
import { CliExit, EXIT_OK, EXIT_STAGE_FAILED, EXIT_USAGE } from './common.js';
import { builtInRegistry } from '../stages/registry.js';

const LABELS: Record<Finding['kind'], string> = {
  same: 'same',
  'only-in-a': 'only in A',
  'only-in-b': 'only in B',
  changed: 'changed',
  'non-deterministic': 'NON-DETERMINISTIC',
  'dataset-differs': 'differs',
  'missing-from-store': 'missing from store',
  'store-differs': 'store differs',
};

function readOrExit(file: string): Lockfile {
  try {
    const lock = readLockfile(file);
    if (!lock) throw new CliExit(EXIT_USAGE, `${file}: no such lockfile (a run writes it beside its pipeline)`);
    return lock;
  } catch (error) {
    if (error instanceof LockfileError) throw new CliExit(EXIT_USAGE, error.message);
    throw error;
  }
}

/** The store of a lockfile's pipeline: the YAML beside it says where; else `.fer-dag/` beside the lockfile. */
function storeFor(lockFile: string): Store {
  const yaml = ['.yaml', '.yml'].map((ext) => lockFile.replace(/\.lock\.json$/, ext)).find((f) => fs.existsSync(f));
  const loaded = yaml ? loadPipeline(yaml, builtInRegistry) : undefined;
  return new Store(loaded?.ok ? loaded.value.storeDir : path.join(path.dirname(lockFile), '.fer-dag'));
}

/** Exit 0 when the runs match, 1 when any stage differs (so scripts and CI can gate on it). */
export function auditCommand(
  lockA: string,
  lockB: string | undefined,
  flags: { json?: boolean; all?: boolean },
): number {
  const a = readOrExit(lockA);
  const findings = lockB ? auditLockfiles(a, readOrExit(lockB)) : auditAgainstStore(a, storeFor(lockA));
  const differing = findings.filter((f) => f.kind !== 'same');
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ a: lockA, b: lockB ?? 'store', findings })}\n`);
  } else {
    process.stdout.write(lockB ? `A = ${lockA}\nB = ${lockB}\n` : `${lockA} against its store\n`);
    for (const f of findings) {
      if (f.kind === 'same' && !flags.all) continue;
      process.stdout.write(`  ${f.subject}: ${LABELS[f.kind]}\n`);
      for (const d of f.details) process.stdout.write(`      ${d}\n`);
    }
    const same = findings.length - differing.length;
    const nondet = findings.filter((f) => f.kind === 'non-deterministic').map((f) => f.subject.replace(/^stage /, ''));
    process.stdout.write(
      differing.length === 0
        ? `no differences (${same} compared)\n`
        : `${differing.length} difference${differing.length === 1 ? '' : 's'}, ${same} same` +
            `${nondet.length ? `; not deterministic: ${nondet.join(', ')}` : ''}\n`,
    );
  }
  return differing.length ? EXIT_STAGE_FAILED : EXIT_OK;
}
