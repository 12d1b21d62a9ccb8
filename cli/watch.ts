import * as os from 'node:os';
import * as path from 'node:path';
import { chooseLogger } from '../engine/log/loggers.js';
import { runPipeline } from '../engine/scheduler.js';
import { formatDiagnostics } from '../engine/spec/diagnostics.js';
import { watchPipeline } from '../engine/watch.js';
import { catchInterrupts } from './signals.js';
import { CliExit, DEFAULT_PIPELINE, EXIT_OK, parseJobs, withLockedStore } from './common.js';
import { builtInRegistry } from '../stages/registry.js';

export async function watchCommand(
  file: string | undefined,
  flags: { jobs?: string; json?: boolean },
): Promise<number> {
  const target = file ?? DEFAULT_PIPELINE;
  const jobs = flags.jobs ? parseJobs(flags.jobs) : os.availableParallelism();
  const logger = chooseLogger(Boolean(flags.json));
  const say = (text: string) => {
    if (!flags.json) process.stdout.write(`${text}\n`);
  };
  // The same path as run's: the first signal stops the current run in order (its lockfile written, the lock
  // released) and ends the watch with 130 or 143; a second forces the exit.
  const interrupts = catchInterrupts((name) => say(`fer-dag: ${name}: stopping (again to force)`));
  const handle = watchPipeline(target, builtInRegistry, {
    run: async (pipeline) => {
      if (interrupts.signal.aborted) return;
      try {
        // Each run takes the lock for its own duration, so `status` or a manual run can go between runs.
        await withLockedStore(
          pipeline,
          `fer-dag watch ${path.relative(process.cwd(), pipeline.file)}`,
          Infinity,
          (store) => runPipeline(pipeline, store, { jobs, emit: logger, signal: interrupts.signal }),
          undefined,
          interrupts.signal,
        );
      } catch (error) {
        if (interrupts.signal.aborted) return;
        say(error instanceof CliExit ? error.message : String(error));
      }
      if (interrupts.signal.aborted) return;
      say(`watching ${path.relative(process.cwd(), pipeline.file)}, its datasets and deps (Ctrl-C to stop)`);
    },
    invalid: (diagnostics) => say(`${formatDiagnostics(diagnostics)}\nwaiting for the next edit…`),
    changed: (files) => say(`changed: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`),
  });
  await new Promise((resolve) => interrupts.signal.addEventListener('abort', resolve, { once: true }));
  await handle.close();
  logger.close();
  interrupts.dispose();
  return interrupts.exitCode(EXIT_OK);
}
