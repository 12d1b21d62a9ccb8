import { signalGroups } from '../lib/process-groups.js';

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit codes a shell expects after these signals (128 + the signal number). */
export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export interface Interrupts {
  /** Aborted at the first SIGINT or SIGTERM: running work ends its process groups and winds down. */
  readonly signal: AbortSignal;
  /** The signal that came, if one did. */
  received(): StopSignal | undefined;
  /** 130 or 143 when a signal came, else `code`. */
  exitCode(code: number): number;
  /** Stops listening (the command is over). */
  dispose(): void;
}

/**
 * The one path from Ctrl-C or SIGTERM to an orderly stop, for `run`, `watch` and `serve`. The first signal
 * aborts `signal`: the command ends its process groups, writes what finished, releases the store lock,
 * removes its temporary files and returns; main then exits 130 or 143. A second signal forces the exit at
 * once, killing every registered process group first. While these listeners are installed, Node (and
 * libraries that re-raise signals, such as signal-exit under execa) do not end the process by themselves.
 */
export function catchInterrupts(onFirst?: (signal: StopSignal) => void): Interrupts {
  const controller = new AbortController();
  let first: StopSignal | undefined;
  const handler = (name: StopSignal) => {
    if (!first) {
      first = name;
      onFirst?.(name);
      controller.abort(new Error(`interrupted by ${name}`));
      return;
    }
    process.stderr.write(`fer-dag: ${name} again: stopping now\n`);
    signalGroups('SIGKILL');
    process.exit(SIGNAL_EXIT_CODES[first]);
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    received: () => first,
    exitCode: (code) => (first ? SIGNAL_EXIT_CODES[first] : code),
    dispose: () => {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
    },
  };
}
