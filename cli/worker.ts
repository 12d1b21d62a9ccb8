import * as os from 'node:os';
import * as path from 'node:path';
import { startWorker } from '../distributed/worker.js';
import { loadRemoteConfig, openRemote } from '../remote/config.js';
import { builtInRegistry } from '../stages/registry.js';
import { catchInterrupts } from './signals.js';
import { CliExit, EXIT_OK, EXIT_USAGE } from './common.js';

export interface WorkerFlags {
  queue: string;
  remote?: string;
  concurrency?: string;
  tags?: string;
  dir?: string;
  lockSeconds?: string;
}

/** `fer-dag worker`: runs stage and shard jobs from the queue until Ctrl-C or SIGTERM (then finishes its jobs). */
export async function workerCommand(flags: WorkerFlags): Promise<number> {
  const concurrency = positive(flags.concurrency ?? '1', '--concurrency');
  const lockSeconds = positive(flags.lockSeconds ?? '30', '--lock-seconds');
  const tags = (flags.tags ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const remote = openRemote(loadRemoteConfig(process.cwd()), flags.remote);
  const dir = path.resolve(flags.dir ?? path.join(os.homedir(), '.cache', 'fer-dag', 'worker'));
  const log = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
  const worker = await startWorker({
    queue: flags.queue,
    remote,
    registry: builtInRegistry,
    dir,
    concurrency,
    tags,
    lockSeconds,
    log,
  });
  const interrupts = catchInterrupts((name) =>
    process.stderr.write(`fer-dag worker: ${name}: finishing the running jobs\n`),
  );
  await new Promise<void>((resolve) => interrupts.signal.addEventListener('abort', () => resolve(), { once: true }));
  await worker.close();
  await remote.close();
  interrupts.dispose();
  return interrupts.exitCode(EXIT_OK);
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CliExit(EXIT_USAGE, `${flag} must be a whole number >= 1, got "${value}"`);
  return n;
}
