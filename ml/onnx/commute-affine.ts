import type { GraphConstant } from './tfjs-weights.js';

interface Node {
  readonly name: string;
  readonly op: string;
  readonly input?: string[];
}

/**
 * Moves a per-channel affine map (Mul by a constant, then Add of a constant: how Keras writes a batch norm that
 * follows a ReLU) from before a MaxPool to after it, in a tfjs node list in topological order; returns the
 * new list. gear does this after each of its first five convolutions: after the move the map touches a quarter
 * of the pixels, and onnxruntime no longer reorders the full-size activations out of its blocked layout and
 * back around the Add. With every scale positive, x ↦ fl(fl(s·x) + b) never decreases as x grows, so the
 * window's maximum maps to the maximum of the mapped window: the numbers are the very same.
 */
export function commuteAffineMaxPool<T extends Node>(
  nodes: readonly T[],
  constants: ReadonlyMap<string, GraphConstant>,
  outputs: ReadonlySet<string>,
): T[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const consumers = new Map<string, number>();
  for (const n of nodes)
    for (const i of n.input ?? []) {
      const from = source(i);
      consumers.set(from, (consumers.get(from) ?? 0) + 1);
    }
  const single = (name: string) => consumers.get(name) === 1 && !outputs.has(name);
  const replaced = new Map<string, T[]>(); // node name → what stands in its place
  for (const pool of nodes) {
    if (pool.op !== 'MaxPool') continue;
    const add = byName.get(source(pool.input?.[0] ?? ''));
    if (!add || !(add.op === 'Add' || add.op === 'AddV2') || !single(add.name)) continue;
    const addSplit = splitConstant(add, constants);
    const mul = addSplit && byName.get(source(addSplit.other));
    if (!addSplit || !mul || mul.op !== 'Mul' || !single(mul.name)) continue;
    const mulSplit = splitConstant(mul, constants);
    if (!mulSplit || !Array.from(mulSplit.constant.values).every((s) => s > 0 && Number.isFinite(s))) continue;
    const channels = mulSplit.constant.values.length;
    if (mulSplit.constant.shape.length !== 1 || addSplit.constant.shape.join() !== `${channels}`) continue;
    // The pool takes the Mul's place (reading its input); the Add takes the pool's name, so readers are unchanged.
    const before = { ...pool, name: `${pool.name}/before_affine`, input: [mulSplit.other] };
    const scaled = { ...mul, input: [before.name, mulSplit.constantInput] };
    const shifted = { ...add, name: pool.name, input: [mul.name, addSplit.constantInput] };
    replaced.set(mul.name, [before, scaled]);
    replaced.set(add.name, [shifted]);
    replaced.set(pool.name, []);
  }
  return nodes.flatMap((n) => replaced.get(n.name) ?? [n]);
}

const source = (input: string): string => input.replace(/^\^/, '').split(':')[0]!;

/** A binary node's constant operand (a per-channel vector) and its other one. */
function splitConstant(
  node: Node,
  constants: ReadonlyMap<string, GraphConstant>,
): { constant: GraphConstant; constantInput: string; other: string } | undefined {
  const inputs = (node.input ?? []).filter((i) => !i.startsWith('^'));
  if (inputs.length !== 2) return undefined;
  const k = inputs.findIndex((i) => constants.get(source(i))?.dtype === 'float32');
  if (k < 0 || constants.has(source(inputs[1 - k]!))) return undefined;
  return { constant: constants.get(source(inputs[k]!))!, constantInput: inputs[k]!, other: inputs[1 - k]! };
}
