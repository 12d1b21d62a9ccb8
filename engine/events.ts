import type { CheckOutcome } from './checks.js';

/**
 * What the engine reports while it works. The engine never writes to the console: the terminal bar, plain
 * lines and `--json` NDJSON are loggers that consume these events. `check-failed`: the stage's result is
 * stored and valid, but one of its error checks failed (a gate), so its descendants do not run.
 */
export type StageFailure = 'command-failed' | 'stage-error' | 'missing-out' | 'cancelled' | 'check-failed';

export type EngineEvent =
  | { type: 'run-start'; pipeline: string; stages: string[]; jobs: number }
  | { type: 'stage-start'; stage: string; key: string; reason: string }
  | { type: 'stage-fresh'; stage: string; key: string; restored: string[]; pulled?: string }
  | { type: 'stage-progress'; stage: string; done: number; total: number; note?: string }
  | { type: 'stage-log'; stage: string; message: string }
  | { type: 'stage-done'; stage: string; key: string; durationMs: number; files: number }
  | {
      type: 'stage-failed';
      stage: string;
      reason: StageFailure;
      message: string;
      /** With reason check-failed: every check of the stage, passed or not (the message names the failed). */
      checks?: CheckOutcome[];
    }
  /** A check of severity warn failed: said, and the run goes on (one event per failed check). */
  | { type: 'stage-check-warning'; stage: string; message: string; check: CheckOutcome }
  | { type: 'stage-skipped'; stage: string; reason: 'upstream-failed'; upstream: string }
  | { type: 'lock-wait'; holderPid: number; holderCommand: string }
  | {
      type: 'run-done';
      executed: string[];
      fresh: string[];
      failed: string[];
      skipped: string[];
      durationMs: number;
      lockFile: string;
    };

export type EventSink = (event: EngineEvent) => void;
