import type { SkippedInput } from '../../datasets/formats/listing.js';
import { StageInputError, type StageContext } from '../../engine/stage.js';

export type SkippedFrom = SkippedInput & { source: string };

/** Above this share of skipped inputs the console warns: a source is probably being misread. */
export const SKIPPED_WARNING_SHARE = 0.05;
/** How many skipped inputs the console names; summary.json lists them all. */
const NAMED = 3;
const REASON_CHARS = 140;

function named(entry: SkippedFrom, reasonChars = REASON_CHARS): string {
  const reason = entry.reason.length > reasonChars ? `${entry.reason.slice(0, reasonChars - 1)}…` : entry.reason;
  const files = entry.count && entry.count > 1 ? ` (${entry.count} files)` : '';
  return `${entry.source}: ${entry.origPath}${files} (${reason})`;
}

/**
 * Tells the console what was skipped: how many of how many, the first few by name with their reason, and
 * where the whole list is. More than 5 % skipped is a warning; every input skipped fails the stage, as an
 * empty dataset is a misread source (a quoted CSV read wrong, a wrong path), never a result to build on.
 */
export function reportSkipped(
  ctx: StageContext<unknown>,
  skipped: readonly SkippedFrom[],
  count: number,
  considered: number,
  kept: number,
): void {
  if (count === 0) return;
  const shown = skipped.slice(0, NAMED);
  const first = (reasonChars?: number) => shown.map((s) => named(s, reasonChars)).join('; ');
  const rest = count - shown.reduce((n, s) => n + (s.count ?? 1), 0);
  const more = rest > 0 ? `; and ${rest} more` : '';
  if (kept === 0) {
    // The reasons in full: with no summary.json to read, this message is all the user gets.
    throw new StageInputError(
      `every input was skipped (${count}), so the merged dataset would be empty. First: ${first(Infinity)}${more}. ` +
        'Fix the sources (or their format and options in the pipeline) and run again.',
    );
  }
  const share = considered > 0 ? count / considered : 1;
  const percent = `${(share * 100).toFixed(share < 0.1 ? 1 : 0)} %`;
  const where =
    `all are listed under "skipped" in ${ctx.stage}'s summary.json ` +
    `(fer-dag export <pipeline> ${ctx.stage} <folder> writes it out)`;
  const tally = `skipped ${count} of ${considered} input${considered === 1 ? '' : 's'}`;
  const prefix =
    share > SKIPPED_WARNING_SHARE
      ? `warning: ${tally} (${percent}, more than ${SKIPPED_WARNING_SHARE * 100} %)`
      : `${tally} (${percent})`;
  ctx.log(`${prefix}: ${first()}${more}; ${where}`);
}
