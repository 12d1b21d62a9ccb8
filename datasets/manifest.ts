import { canonicalJson } from '../cache/hash.js';
import type { ManifestRecord } from './record.js';
import type { InputView, OutputWriter } from '../engine/stage.js';

/**
 * `manifest.jsonl`, the file that makes a stage's output a dataset (docs/design.md, "Dataset records"): one
 * record per image, in canonical JSON so the same records always give the same bytes and the same hash.
 */
export const MANIFEST = 'manifest.jsonl';

/** The records of a dataset stage; `reader` names the stage type that needs them, for the error. */
export function readManifest(view: InputView | undefined, reader: string): ManifestRecord[] {
  if (!view?.files[MANIFEST])
    throw new Error(`${reader} needs a dataset stage as input (one with a ${MANIFEST}); "${view?.name}" has none`);
  return view
    .readText(MANIFEST)
    .split('\n')
    .filter((line) => line.trim())
    .map((line, i) => {
      try {
        return JSON.parse(line) as ManifestRecord;
      } catch (error) {
        throw new Error(
          `${view.name}/${MANIFEST} line ${i + 1} is not JSON (${(error as Error).message}); rerun ${view.name}`,
        );
      }
    });
}

/** Records as manifest.jsonl holds them; also for other files of the same shape (an evaluator's list). */
export function manifestText(records: readonly ManifestRecord[]): string {
  return records.map((r) => canonicalJson(r)).join('\n') + (records.length ? '\n' : '');
}

export function writeManifest(output: OutputWriter, records: readonly ManifestRecord[]): void {
  output.writeFile(MANIFEST, manifestText(records));
}
