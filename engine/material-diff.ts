import { canonicalJson } from '../cache/hash.js';
import type { KeyMaterial } from './stage-key.js';
import { describeSpec, type CheckSpec } from './checks.js';

/** How two key materials of one stage differ, as short sentences for people ("params.size: 3 → 4"). */
export function diffMaterial(before: KeyMaterial, after: Partial<KeyMaterial>, limit = 8): string[] {
  const changes: string[] = [];
  if (after.type !== undefined && before.type !== after.type) changes.push(`type ${before.type} → ${after.type}`);
  if (after.version !== undefined && before.version !== after.version) {
    changes.push(`code version ${before.version} → ${after.version}`);
  }
  if (after.seed !== undefined && before.seed !== after.seed) changes.push(`seed ${before.seed} → ${after.seed}`);
  if (after.stream !== undefined && before.stream !== after.stream)
    changes.push(`stage renamed ${before.stream} → ${after.stream}`);
  if (after.params !== undefined) changes.push(...diffValues('', before.params, after.params));
  const groups: [keyof KeyMaterial, string][] = [
    ['inputs', 'input'],
    ['datasets', 'dataset'],
    ['deps', 'dep'],
    ['models', 'model'],
  ];
  if (after.sources !== undefined || before.sources !== undefined) {
    // A dataset read another way (labels, format, downsample): named down to the option that changed.
    changes.push(
      ...diffValues('sources', before.sources ?? {}, after.sources ?? {}).map((c) => `dataset read differently: ${c}`),
    );
  }
  if (after.upstreamChecks !== undefined || before.upstreamChecks !== undefined) {
    changes.push(...diffUpstreamChecks(before.upstreamChecks ?? {}, after.upstreamChecks ?? {}));
  }
  for (const [field, noun] of groups) {
    const a = before[field] as Record<string, string>;
    const b = after[field] as Record<string, string> | undefined;
    if (!b) continue;
    for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(name in a)) changes.push(`${noun} ${name} added`);
      else if (!(name in b)) changes.push(`${noun} ${name} removed`);
      else if (a[name] !== b[name]) changes.push(`${noun} ${name} changed`);
    }
  }
  if (changes.length > limit) return [...changes.slice(0, limit), `and ${changes.length - limit} more`];
  return changes;
}

/** For a stage that reads its upstream's check outcomes: `checks of upstream distribute: maxX: 0 → maxX: 1`. */
function diffUpstreamChecks(a: Record<string, CheckSpec[]>, b: Record<string, CheckSpec[]>): string[] {
  const written = (specs: CheckSpec[] | undefined) => (specs ?? []).map(describeSpec).join(', ') || 'none';
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .sort()
    .filter((name) => canonicalJson(a[name] ?? []) !== canonicalJson(b[name] ?? []))
    .map((name) => `checks of upstream ${name}: ${written(a[name])} → ${written(b[name])}`);
}

function show(value: unknown): string {
  const text = value === undefined ? '(unset)' : canonicalJson(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Leaf-level differences between two JSON values, named by dotted path (a stage's params: `params.rows`, `cmd`). */
export function diffValues(at: string, a: unknown, b: unknown): string[] {
  if (isObject(a) && isObject(b)) {
    const out: string[] = [];
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
      out.push(...diffValues(at ? `${at}.${k}` : k, a[k], b[k]));
    return out;
  }
  return canonicalJson(a ?? null) === canonicalJson(b ?? null) ? [] : [`${at}: ${show(a)} → ${show(b)}`];
}
