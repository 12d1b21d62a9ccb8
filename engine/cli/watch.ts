import * as os from 'node:os';
import * as path from 'node:path';
import { chooseLogger } from '../log/loggers.js';
import { runPipeline } from '../scheduler.js';
import { formatDiagnostics } from '../spec/diagnostics.js';
import { watchPipeline } from '../watch.js';
import { CliExit, DEFAULT_PIPELINE, EXIT_OK, parseJobs, withLockedStore } from './common.js';

export async function watchCommand(file: string | undefined, flags: { jobs?: string; json?: boolean }): Promise<number> {
  const target = file ?? DEFAULT_PIPELINE;
  const jobs = flags.jobs ? parseJobs(flags.jobs) : os.availableParallelism();
  const logger = chooseLogger(Boolean(flags.json));
  const say = (text: string) => {
    if (!flags.json) process.stdout.write(`${text}\n`);
  };
  const handle = watchPipeline(target, {
    run: async (pipeline) => {
      try {
        // Each run takes the lock for its own duration, so `status` or a manual run can go between runs.
        await withLockedStore(pipeline, `fer-dag watch ${path.relative(process.cwd(), pipeline.file)}`, Infinity, (store) =>
          runPipeline(pipeline, store, { jobs, emit: logger }),
        );
      } catch (error) {
        say(error instanceof CliExit ? error.message : String(error));
      }
      say(`watching ${path.relative(process.cwd(), pipeline.file)}, its datasets and deps (Ctrl-C to stop)`);
    },
    invalid: (diagnostics) => say(`${formatDiagnostics(diagnostics)}\nwaiting for the next edit…`),
    changed: (files) => say(`changed: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`),
  });
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  await handle.close();
  logger.close();
  return EXIT_OK;
}
