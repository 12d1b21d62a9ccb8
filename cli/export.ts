import * as fs from 'node:fs';
import { CorruptBlobError, Store } from '../cache/store.js';
import { ExportError, exportStage, type ExportLayout } from '../datasets/export.js';
import { checkStageNames, CliExit, EXIT_OK, EXIT_STAGE_FAILED, EXIT_USAGE, freshRecord, loadOrExit } from './common.js';

export async function exportCommand(
  file: string,
  stage: string,
  dir: string,
  flags: { by?: string; overwrite?: boolean; link?: boolean },
): Promise<number> {
  const pipeline = loadOrExit(file);
  checkStageNames(pipeline, [stage], 'export');
  const layout = (flags.by ?? 'class') as ExportLayout;
  if (layout !== 'class' && layout !== 'subgroup')
    throw new CliExit(EXIT_USAGE, `--by must be class or subgroup, got "${flags.by}"`);
  const store = new Store(pipeline.storeDir);
  const record = await freshRecord(pipeline, store, stage);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    if (!flags.overwrite)
      throw new CliExit(EXIT_USAGE, `${dir} is not empty; export into a new folder, or pass --overwrite to replace it`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  try {
    const report = exportStage(store, record, dir, layout, Boolean(flags.link));
    const kind = flags.link
      ? ` (${report.linked} hard links into the store: do not write to them; ${report.copied} copies)`
      : ` (${report.copied} copies)`;
    const how = report.images
      ? `, ${report.images} images in ${layout === 'class' ? `${dir}/<class id 0-6>/` : `${dir}/<emotion>/<subgroup>/`}${kind}`
      : '';
    process.stdout.write(`exported stage ${stage}: ${report.files} output files${how}\n`);
  } catch (error) {
    if (error instanceof ExportError) throw new CliExit(EXIT_STAGE_FAILED, error.message);
    if (error instanceof CorruptBlobError) {
      const rerun = `fer-dag run ${file} --stage ${stage}`;
      throw new CliExit(
        EXIT_STAGE_FAILED,
        `fer-dag: ${error.message}; run \`${rerun}\` to recompute it, then export again`,
      );
    }
    throw error;
  }
  return EXIT_OK;
}
