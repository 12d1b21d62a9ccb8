import type { Pipeline } from '../engine/spec/pipeline.js';
import { CliExit, EXIT_OK, EXIT_USAGE, loadOrExit } from './common.js';

const quoteDot = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
const mermaidId = (kind: 'ds' | 'st', name: string) => `${kind}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;

export function toMermaid(pipeline: Pipeline): string {
  const lines = ['flowchart TD'];
  for (const ds of pipeline.datasets.values())
    lines.push(`  ${mermaidId('ds', ds.name)}[("${ds.name}<br/><i>${ds.format}</i>")]`);
  for (const name of pipeline.order)
    lines.push(`  ${mermaidId('st', name)}["${name}<br/><i>${pipeline.stages.get(name)!.type}</i>"]`);
  for (const name of pipeline.order) {
    const stage = pipeline.stages.get(name)!;
    for (const ds of stage.datasets) lines.push(`  ${mermaidId('ds', ds)} --> ${mermaidId('st', name)}`);
    for (const up of stage.upstreamStages) lines.push(`  ${mermaidId('st', up)} --> ${mermaidId('st', name)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function toDot(pipeline: Pipeline): string {
  const lines = [`digraph ${quoteDot(pipeline.name)} {`, '  rankdir=LR;', '  node [fontname="Helvetica"];'];
  for (const ds of pipeline.datasets.values())
    lines.push(`  ${quoteDot(`dataset:${ds.name}`)} [shape=cylinder, label=${quoteDot(`${ds.name}\n${ds.format}`)}];`);
  for (const name of pipeline.order)
    lines.push(`  ${quoteDot(name)} [shape=box, label=${quoteDot(`${name}\n${pipeline.stages.get(name)!.type}`)}];`);
  for (const name of pipeline.order) {
    const stage = pipeline.stages.get(name)!;
    for (const ds of stage.datasets) lines.push(`  ${quoteDot(`dataset:${ds}`)} -> ${quoteDot(name)};`);
    for (const up of stage.upstreamStages) lines.push(`  ${quoteDot(up)} -> ${quoteDot(name)};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export function dagCommand(file: string | undefined, flags: { format?: string }): number {
  const pipeline = loadOrExit(file);
  const format = flags.format ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'dot')
    throw new CliExit(EXIT_USAGE, `--format must be mermaid or dot, got "${format}"`);
  process.stdout.write(format === 'dot' ? toDot(pipeline) : toMermaid(pipeline));
  return EXIT_OK;
}
