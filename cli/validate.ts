import * as path from 'node:path';
import { EXIT_OK, loadOrExit } from './common.js';

export function validateCommand(file: string): number {
  const p = loadOrExit(file);
  process.stdout.write(
    `${path.relative(process.cwd(), p.file)}: valid (${p.stages.size} stage${p.stages.size === 1 ? '' : 's'}, ` +
      `${p.datasets.size} dataset${p.datasets.size === 1 ? '' : 's'}; order: ${p.order.join(' → ')})\n`,
  );
  return EXIT_OK;
}
