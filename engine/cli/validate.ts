import * as path from 'node:path';
import { formatDiagnostic, formatDiagnostics } from '../spec/diagnostics.js';
import { loadPipeline } from '../spec/load.js';
import { CliExit, EXIT_OK, EXIT_USAGE } from './common.js';

export function validateCommand(file: string): number {
  const result = loadPipeline(file);
  if (!result.ok) throw new CliExit(EXIT_USAGE, formatDiagnostics(result.diagnostics));
  for (const warning of result.warnings) process.stderr.write(`${formatDiagnostic(warning)}\n`);
  const p = result.value;
  process.stdout.write(
    `${path.relative(process.cwd(), p.file)}: valid (${p.stages.size} stage${p.stages.size === 1 ? '' : 's'}, ` +
      `${p.datasets.size} dataset${p.datasets.size === 1 ? '' : 's'}; order: ${p.order.join(' → ')})\n`,
  );
  return EXIT_OK;
}
