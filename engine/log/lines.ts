import * as path from 'node:path';
import type { EngineEvent } from '../events.js';

export function seconds(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
}

/** The one line (or block) a person sees for an event; undefined for events only bars and NDJSON show. */
export function eventLine(event: EngineEvent, cwd = process.cwd()): string | undefined {
  switch (event.type) {
    case 'run-start':
      return undefined;
    case 'stage-fresh':
      return (
        `  fresh    ${event.stage}${event.pulled ? ` (pulled from ${event.pulled})` : ''}` +
        (event.restored.length ? ` (restored from cache: ${event.restored.join(', ')})` : '')
      );
    case 'stage-start':
      return `  run      ${event.stage}: ${event.reason}`;
    case 'stage-done':
      return `  done     ${event.stage} in ${seconds(event.durationMs)} (${event.files} file${event.files === 1 ? '' : 's'})`;
    case 'stage-failed':
      // A gate: one line per failed check, naming the stage, the check, the value and the threshold.
      if (event.reason === 'check-failed') {
        return event.message
          .split('\n')
          .map((line) => `  FAILED   ${event.stage}: ${line}`)
          .join('\n');
      }
      return `  FAILED   ${event.stage} (${event.reason}):\n${indent(event.message)}`;
    case 'stage-check-warning':
      return `  warning  ${event.stage}: ${event.message}`;
    case 'stage-skipped':
      return `  skipped  ${event.stage}: upstream ${event.upstream} failed`;
    case 'stage-log':
      return `  [${event.stage}] ${event.message}`;
    case 'stage-progress':
      return undefined;
    case 'lock-wait':
      return `waiting for the store lock held by pid ${event.holderPid} (${event.holderCommand})…`;
    case 'run-done': {
      const lock = path.relative(cwd, event.lockFile);
      if (event.failed.length) {
        return (
          `${event.failed.length} stage${event.failed.length === 1 ? '' : 's'} failed (${event.failed.join(', ')})` +
          `${event.skipped.length ? `, ${event.skipped.length} skipped` : ''}; ${event.executed.length} ran, ${event.fresh.length} fresh; lockfile ${lock}`
        );
      }
      if (event.executed.length === 0 && event.skipped.length === 0) {
        return `nothing to do: all ${event.fresh.length} stages are fresh (${seconds(event.durationMs)}); lockfile ${lock}`;
      }
      return (
        `ran ${event.executed.length} stage${event.executed.length === 1 ? '' : 's'}, ${event.fresh.length} fresh` +
        `${event.skipped.length ? `, ${event.skipped.length} not started` : ''} in ${seconds(event.durationMs)}; lockfile ${lock}`
      );
    }
  }
}

/** Estimates time left from the rate so far. */
export function eta(startedAt: number, done: number, total: number, now = Date.now()): string {
  // The clock starts at the first progress report, so the first rate is meaningless (it said "ETA 0 ms").
  if (done <= 0 || done >= total || now - startedAt < 1000) return '';
  return ` ETA ${seconds(Math.round(((now - startedAt) * (total - done)) / done))}`;
}
