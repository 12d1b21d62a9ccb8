import type { Store } from '../cache/store.js';
import { treeHash, type Tree } from '../cache/tree.js';
import { lockedMaterial, type Lockfile } from './lockfile.js';
import { diffMaterial } from './material-diff.js';

export type FindingKind =
  | 'same'
  | 'only-in-a'
  | 'only-in-b'
  | 'changed'
  | 'non-deterministic'
  | 'dataset-differs'
  | 'missing-from-store'
  | 'store-differs';

export interface Finding {
  /** `stage NAME` or `dataset NAME`. */
  subject: string;
  kind: FindingKind;
  details: string[];
}

const MAX_FILES_LISTED = 10;

function fileDifferences(a: Tree, b: Tree): string[] {
  const lines: string[] = [];
  for (const rel of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (!a[rel]) lines.push(`${rel}: only in B`);
    else if (!b[rel]) lines.push(`${rel}: only in A`);
    else if (a[rel]!.hash !== b[rel]!.hash)
      lines.push(`${rel}: ${a[rel]!.hash.slice(0, 12)} → ${b[rel]!.hash.slice(0, 12)}`);
  }
  return lines.length > MAX_FILES_LISTED
    ? [...lines.slice(0, MAX_FILES_LISTED), `and ${lines.length - MAX_FILES_LISTED} more files`]
    : lines;
}

/**
 * Compares two runs stage by stage and says why each differs: its params, inputs, datasets, seed or code
 * version changed — or its key is the same and its outputs are not, which means the stage is not deterministic.
 */
export function auditLockfiles(a: Lockfile, b: Lockfile): Finding[] {
  const findings: Finding[] = [];
  for (const name of [...new Set([...Object.keys(a.datasets), ...Object.keys(b.datasets)])].sort()) {
    const da = a.datasets[name];
    const db = b.datasets[name];
    if (!da || !db) findings.push({ subject: `dataset ${name}`, kind: da ? 'only-in-a' : 'only-in-b', details: [] });
    else if (da.tree !== db.tree) {
      findings.push({
        subject: `dataset ${name}`,
        kind: 'dataset-differs',
        details: [`${da.files} files (${da.tree.slice(0, 12)}) vs ${db.files} files (${db.tree.slice(0, 12)})`],
      });
    }
  }
  for (const name of [...new Set([...Object.keys(a.stages), ...Object.keys(b.stages)])].sort()) {
    const sa = a.stages[name];
    const sb = b.stages[name];
    const subject = `stage ${name}`;
    if (!sa || !sb) {
      findings.push({ subject, kind: sa ? 'only-in-a' : 'only-in-b', details: [] });
    } else if (sa.key !== sb.key) {
      findings.push({
        subject,
        kind: 'changed',
        details: diffMaterial(lockedMaterial(a, name)!, lockedMaterial(b, name)!),
      });
    } else if (sa.outputs.tree !== sb.outputs.tree) {
      findings.push({
        subject,
        kind: 'non-deterministic',
        details: ['same key, different outputs', ...fileDifferences(sa.outputs.files, sb.outputs.files)],
      });
    } else {
      findings.push({ subject, kind: 'same', details: [] });
    }
  }
  return findings;
}

/** Checks a lockfile against the store: is every locked stage's result there, and is it what the lockfile says? */
export function auditAgainstStore(lock: Lockfile, store: Store): Finding[] {
  return Object.keys(lock.stages)
    .sort()
    .map((name): Finding => {
      const entry = lock.stages[name]!;
      const subject = `stage ${name}`;
      const record = store.getRecord(entry.key);
      if (!record)
        return { subject, kind: 'missing-from-store', details: ['no record for its key: the next run recomputes it'] };
      if (record.treeHash !== entry.outputs.tree || treeHash(entry.outputs.files) !== entry.outputs.tree) {
        return {
          subject,
          kind: 'store-differs',
          details: [
            'the store holds other outputs for the same key',
            ...fileDifferences(entry.outputs.files, record.outputs),
          ],
        };
      }
      const missing = Object.entries(record.outputs)
        .filter(([, e]) => !store.hasBlob(e.hash))
        .map(([rel]) => `${rel}: blob missing`);
      if (missing.length) return { subject, kind: 'missing-from-store', details: missing };
      return { subject, kind: 'same', details: [] };
    });
}
