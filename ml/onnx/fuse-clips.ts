import type { GraphNode, OnnxGraph } from './graph.js';

/**
 * Merges chains of Relu and Clip into one Clip, in place. Keras writes ReLU6 as Relu → Minimum(6) → Maximum(0)
 * (MobileNet's blocks in faceres): onnxruntime fuses one activation into the convolution before it, and an
 * unfused Min or Max also forces its blocked (NCHWc) layout to be reordered out and back in around it, which
 * cost faceres 40 % of its time. clip(clip(x, a, b), c, d) = clip(x, max(a, c), min(b, d)) whenever
 * max(a, c) ≤ min(b, d), and relu is clip(x, 0, ∞): the merged graph computes the very same numbers.
 */
export function fuseClipChains(g: OnnxGraph): void {
  const consumers = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const outputs = new Set(g.outputs.map((o) => o.name));
  const producer = new Map<string, number>();
  g.nodes.forEach((n, k) => n.outputs.forEach((o) => producer.set(o, k)));
  const removed = new Set<number>();
  for (let k = 0; k < g.nodes.length; k++) {
    const node = g.nodes[k]!;
    if (node.op !== 'Clip') continue;
    const before = producer.get(node.inputs[0]!);
    if (before === undefined) continue;
    const first = g.nodes[before]!;
    const between = node.inputs[0]!;
    if (consumers.get(between) !== 1 || outputs.has(between)) continue;
    const outer = clipBounds(g, node);
    const inner =
      first.op === 'Relu' ? { low: 0, high: Infinity } : first.op === 'Clip' ? clipBounds(g, first) : undefined;
    if (!outer || !inner) continue;
    const low = Math.max(inner.low, outer.low);
    const high = Math.min(inner.high, outer.high);
    if (low > high) continue;
    // The merged Clip takes the first node's place (its input) and keeps this node's output name.
    g.nodes[k] = clipNode(g, first.inputs[0]!, low, high, node.outputs[0]!, `${between}/clip`);
    removed.add(before);
  }
  const kept = g.nodes.filter((_, k) => !removed.has(k));
  g.nodes.splice(0, g.nodes.length, ...kept);
  // The bounds of the merged nodes (and Keras' own scalar constants) are nobody's input now.
  const used = new Set(g.nodes.flatMap((n) => n.inputs));
  const initializers = g.initializers.filter((i) => used.has(i.name) || outputs.has(i.name));
  g.initializers.splice(0, g.initializers.length, ...initializers);
}

/** A Clip's bounds, when both are absent or constant scalars. */
function clipBounds(g: OnnxGraph, node: GraphNode): { low: number; high: number } | undefined {
  const bound = (name: string | undefined, absent: number): number | undefined => {
    if (!name) return absent;
    const c = g.initializers.find((i) => i.name === name);
    return c && c.data.length === 1 && c.data instanceof Float32Array ? c.data[0] : undefined;
  };
  const low = bound(node.inputs[1], -Infinity);
  const high = bound(node.inputs[2], Infinity);
  return low === undefined || high === undefined ? undefined : { low, high };
}

function clipNode(g: OnnxGraph, x: string, low: number, high: number, output: string, hint: string): GraphNode {
  const bound = (v: number, what: string) =>
    Number.isFinite(v) ? g.constant(`${hint}/${what}`, new Float32Array([v]), []) : '';
  const inputs = [x, bound(low, 'min'), bound(high, 'max')];
  while (inputs.at(-1) === '') inputs.pop();
  return { op: 'Clip', inputs, outputs: [output], attributes: {} };
}
