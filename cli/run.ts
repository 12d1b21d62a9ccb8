import * as os from 'node:os';
import * as path from 'node:path';
import { chooseLogger } from '../engine/log/loggers.js';
import { runPipeline, type RunOptions, type RunSummary } from '../engine/scheduler.js';
import { RemoteError, type RemoteBackend } from '../remote/backend.js';
import { ResultPuller } from '../remote/transfer.js';
import { QueueCoordinator } from '../distributed/coordinator.js';
import { remoteForRun, remoteLookup, transferJobs } from './transfer.js';
import { pipelineStatus } from '../engine/status.js';
import { Store } from '../cache/store.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import { catchInterrupts } from './signals.js';
import {
  checkStageNames,
  CliExit,
  EXIT_OK,
  EXIT_STAGE_FAILED,
  EXIT_USAGE,
  loadOrExit,
  parseJobs,
  withLockedStore,
} from './common.js';

export interface RunFlags {
  stage?: string[];
  force?: string[];
  jobs?: string;
  dryRun?: boolean;
  json?: boolean;
  wait?: string | boolean;
  pull?: boolean;
  remote?: string;
  queue?: string;
  shards?: string;
}

export async function runCommand(file: string | undefined, flags: RunFlags): Promise<number> {
  const pipeline = loadOrExit(file);
  const targets = flags.stage ?? [];
  const force = flags.force ?? [];
  checkStageNames(pipeline, targets, '--stage');
  checkStageNames(pipeline, force, '--force');
  const jobs = flags.jobs ? parseJobs(flags.jobs) : os.availableParallelism();

  // With a queue, the remote is where workers find inputs and leave results: it is also consulted first.
  const consulted = remoteForRun(pipeline, flags.queue ? { ...flags, pull: flags.pull ?? true } : flags);
  if (flags.queue && !consulted) throw new CliExit(EXIT_USAGE, '--queue needs a remote: --remote R, or a default one');
  const shards = flags.shards ? parseJobs(flags.shards) : undefined;
  if (flags.dryRun) {
    const store = new Store(pipeline.storeDir);
    const statuses = await pipelineStatus(pipeline, store, targets, consulted && remoteLookup(consulted.remote));
    await consulted?.remote.close();
    if (flags.json) process.stdout.write(`${JSON.stringify({ dryRun: true, stages: statuses })}\n`);
    else {
      for (const s of statuses) {
        const would =
          s.state === 'blocked'
            ? 'blocked   '
            : s.state === 'fresh' && !force.includes(s.stage)
              ? 'fresh     '
              : 'would run ';
        const why = s.state === 'fresh' ? (force.includes(s.stage) ? 'forced' : '') : s.reasons.join('; ') || s.state;
        process.stdout.write(`  ${would}${s.stage}${why ? `: ${why}` : ''}\n`);
      }
    }
    return EXIT_OK;
  }

  const logger = chooseLogger(Boolean(flags.json));
  // The running stages end their process groups, the lockfile records what finished and the lock is released;
  // main then exits 130 or 143. A second signal forces the exit.
  const interrupts = catchInterrupts((name) => {
    if (!flags.json) process.stderr.write(`fer-dag: ${name}: stopping the running stages (again to force)\n`);
  });
  const waitSeconds = flags.wait === true ? Infinity : flags.wait ? Number(flags.wait) : 0;
  try {
    let reports: string[] = [];
    const summary = await withLockedStore(
      pipeline,
      `fer-dag run ${path.relative(process.cwd(), pipeline.file)}`,
      waitSeconds,
      async (store) => {
        const signal = interrupts.signal;
        const transfers = consulted && transferJobs(flags, consulted.config);
        const fetchResult = consulted && pullingFrom(store, consulted.remote, transfers!);
        const coordinator =
          flags.queue && consulted
            ? new QueueCoordinator(pipeline, store, {
                queue: flags.queue,
                remote: consulted.remote,
                shards,
                jobs: transfers!,
                emit: logger,
                tagsOf: (stage) => stageTags(pipeline, stage),
              })
            : undefined;
        await coordinator?.open();
        try {
          const executeElsewhere = coordinator?.execute;
          const options = { targets, force, jobs, signal, emit: logger, fetchResult, executeElsewhere };
          const result = await runPipeline(pipeline, store, options);
          if (result.ok) reports = await publishReports(pipeline, store, result);
          return result;
        } finally {
          await coordinator?.close();
        }
      },
      (pid, command) => logger({ type: 'lock-wait', holderPid: pid, holderCommand: command }),
      interrupts.signal,
    );
    logger.close();
    if (!flags.json) {
      for (const html of reports)
        process.stdout.write(
          `report: ${path.relative(process.cwd(), html)} (\`fer-dag report\` prints its accuracy matrix)\n`,
        );
    }
    return interrupts.exitCode(summary.ok ? EXIT_OK : EXIT_STAGE_FAILED);
  } catch (error) {
    // Interrupted while queued for the lock: nothing ran, nothing to write.
    if (error instanceof CliExit && interrupts.received()) return interrupts.exitCode(error.code);
    throw error;
  } finally {
    logger.close();
    interrupts.dispose();
    await consulted?.remote.close();
  }
}

/** `run --pull`: each stage the store lacks is first looked up in the remote, as a run cache. */
function pullingFrom(store: Store, remote: RemoteBackend, jobs: number): RunOptions['fetchResult'] {
  const puller = new ResultPuller(store, remote, { jobs });
  let unreachable: Error | undefined; // asked once: the other stages do not wait for the same timeouts again
  return async (stage, key) => {
    if (unreachable) throw unreachable;
    try {
      return (await puller.pull({ stage, key })) === 'pulled' ? remote.label : undefined;
    } catch (error) {
      if (!(error instanceof RemoteError && error.unreachable)) throw error;
      unreachable = error;
      throw error;
    }
  };
}

/** The report stages this run brought up to date (ran or found fresh), copied where a browser can open them. */
async function publishReports(pipeline: Pipeline, store: Store, summary: RunSummary): Promise<string[]> {
  const reports = [...summary.executed, ...summary.fresh].filter(
    (name) => pipeline.stages.get(name)?.type === 'report',
  );
  if (!reports.length) return [];
  const { publishReport } = await import('./report-command.js');
  return reports.map((name) => publishReport(pipeline, store, name, store.getRecord(summary.lock.stages[name]!.key)!));
}

/** The tags a stage's jobs need (its `tags:` field): only workers started with them take its jobs. */
function stageTags(pipeline: Pipeline, stage: string): string[] {
  const tags = (pipeline.stages.get(stage)?.entry as { tags?: unknown } | undefined)?.tags;
  return Array.isArray(tags) ? tags.map(String) : [];
}
