import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, type StageRecord } from '../cache/store.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import type { CrossEvaluationMetrics } from '../report/evaluation-metrics.js';
import { matrixText } from '../report/table10.js';
import { checkStageNames, CliExit, EXIT_OK, EXIT_USAGE, freshRecord, loadOrExit } from './common.js';

/**
 * Copies a report stage's files out of the store into `.fer-dag/reports/<stage>/` (a path that does not
 * change between runs, so a browser tab can be reloaded) and gives the path of its report.html.
 */
export function publishReport(pipeline: Pipeline, store: Store, stage: string, record: StageRecord): string {
  const dir = path.join(pipeline.storeDir, 'reports', stage);
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [rel, entry] of Object.entries(record.outputs)) store.restoreBlob(entry.hash, path.join(dir, rel));
  return path.join(dir, 'report.html');
}

/**
 * `fer-dag report`: copies a fresh report stage's files out of the store (next to the store, in
 * `.fer-dag/reports/<stage>/`, so the page's path does not change between runs), prints where report.html
 * is and the accuracy matrix, and with --open hands the page to the desktop's browser.
 */
export async function reportCommand(
  file: string | undefined,
  flags: { stage?: string; open?: boolean },
): Promise<number> {
  const pipeline = loadOrExit(file);
  const reports = [...pipeline.stages.values()].filter((s) => s.entry.type === 'report').map((s) => s.name);
  const stage = flags.stage ?? (reports.length === 1 ? reports[0] : undefined);
  if (!stage) {
    throw new CliExit(
      EXIT_USAGE,
      reports.length
        ? `the pipeline has ${reports.length} report stages (${reports.join(', ')}); name one with --stage`
        : `${path.relative(process.cwd(), pipeline.file)} has no stage of type report; add one (see the README, "type: report")`,
    );
  }
  checkStageNames(pipeline, [stage], 'report');
  const store = new Store(pipeline.storeDir);
  const html = publishReport(pipeline, store, stage, await freshRecord(pipeline, store, stage));
  const metrics = JSON.parse(
    fs.readFileSync(path.join(path.dirname(html), 'metrics.json'), 'utf8'),
  ) as CrossEvaluationMetrics;
  process.stdout.write(
    `report: ${html}\n\naccuracy (%) [95 % interval], rows: models, columns: test sets\n${matrixText(metrics)}`,
  );
  if (flags.open) {
    const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
    const child = spawn(opener, [html], { detached: true, stdio: 'ignore' });
    child.on('error', () => process.stderr.write(`could not start ${opener}; open ${html} in a browser\n`));
    child.unref();
  }
  return EXIT_OK;
}
