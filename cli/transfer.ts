import * as path from 'node:path';
import { Store } from '../cache/store.js';
import { readLockfile } from '../engine/lockfile.js';
import type { Pipeline } from '../engine/spec/pipeline.js';
import type { RemoteBackend } from '../remote/backend.js';
import { loadRemoteConfig, openRemote, type RemoteConfig } from '../remote/config.js';
import { pullResults, pushResults, readRemoteRecord, type ResultRef, type TransferCounts } from '../remote/transfer.js';
import type { RemoteLookup } from '../engine/status.js';
import {
  checkStageNames,
  CliExit,
  EXIT_OK,
  EXIT_STAGE_FAILED,
  loadOrExit,
  parseJobs,
  withLockedStore,
} from './common.js';

export interface TransferFlags {
  remote?: string;
  stage?: string[];
  jobs?: string;
  json?: boolean;
}

const DEFAULT_TRANSFER_JOBS = 8;

export async function pushCommand(file: string | undefined, flags: TransferFlags): Promise<number> {
  const { pipeline, config, remote, results } = prepare(file, flags);
  const progress = transferProgress('push', remote.label, Boolean(flags.json));
  try {
    const summary = await pushResults(new Store(pipeline.storeDir), remote, results, {
      jobs: transferJobs(flags, config),
      onProgress: progress.update,
    });
    progress.finish();
    report(flags, { ...summary, remote: remote.label }, () => {
      const parts = [`${summary.written.length} results written`, `${summary.present.length} already there`];
      return `pushed to ${remote.label}: ${parts.join(', ')}, ${objects(summary)}`;
    });
    for (const { stage, reason } of summary.notLocal) {
      process.stderr.write(
        `fer-dag: ${stage} not pushed: its result is not in the local store (${reason}); run it first\n`,
      );
    }
    return summary.notLocal.length ? EXIT_STAGE_FAILED : EXIT_OK;
  } finally {
    await remote.close();
  }
}

export async function pullCommand(file: string | undefined, flags: TransferFlags): Promise<number> {
  const { pipeline, config, remote, results } = prepare(file, flags);
  const progress = transferProgress('pull', remote.label, Boolean(flags.json));
  try {
    const summary = await withLockedStore(pipeline, 'fer-dag pull', 0, (store) =>
      pullResults(store, remote, results, { jobs: transferJobs(flags, config), onProgress: progress.update }),
    );
    progress.finish();
    const by = (outcome: string) => Object.keys(summary.outcomes).filter((s) => summary.outcomes[s] === outcome);
    report(flags, { ...summary, remote: remote.label }, () => {
      const parts = [`${by('pulled').length} results pulled`, `${by('local').length} already here`];
      const memo = summary.memoEntries ? `, ${summary.memoEntries} memo entries` : '';
      return `pulled from ${remote.label}: ${parts.join(', ')}, ${objects(summary)}${memo}`;
    });
    const absent = by('absent');
    if (absent.length) {
      process.stderr.write(
        `fer-dag: not in ${remote.label}: ${absent.join(', ')} (push them from where they ran, or run them here)\n`,
      );
    }
    return absent.length ? EXIT_STAGE_FAILED : EXIT_OK;
  } finally {
    await remote.close();
  }
}

/** The pipeline, the remote configuration and the results its lockfile names (all, or the `--stage` ones). */
function prepare(
  file: string | undefined,
  flags: TransferFlags,
): { pipeline: Pipeline; config: RemoteConfig; remote: RemoteBackend; results: ResultRef[] } {
  const pipeline = loadOrExit(file);
  const config = loadRemoteConfig(pipeline.dir);
  const remote = openRemote(config, flags.remote); // a wrong name is said before anything else
  const stages = flags.stage ?? [];
  checkStageNames(pipeline, stages, '--stage');
  const lock = readLockfile(pipeline.lockFile);
  const shown = path.relative(process.cwd(), pipeline.lockFile);
  if (!lock) throw new CliExit(EXIT_STAGE_FAILED, `fer-dag: ${shown} does not exist: run the pipeline first`);
  const names = stages.length ? stages : Object.keys(lock.stages).sort();
  const unlocked = names.filter((name) => !lock.stages[name]);
  if (unlocked.length) {
    throw new CliExit(EXIT_STAGE_FAILED, `fer-dag: ${shown} has no result for ${unlocked.join(', ')}: run it first`);
  }
  const results = names.map((stage) => ({ stage, key: lock.stages[stage]!.key }));
  return { pipeline, config, remote, results };
}

export function transferJobs(flags: { jobs?: string }, config: RemoteConfig): number {
  return flags.jobs ? parseJobs(flags.jobs) : (config.jobs ?? DEFAULT_TRANSFER_JOBS);
}

function report(flags: TransferFlags, summary: object, line: () => string): void {
  process.stdout.write(flags.json ? `${JSON.stringify({ type: 'transfer-done', ...summary })}\n` : `${line()}\n`);
}

const objects = (counts: TransferCounts) => `${counts.done} objects checked, ${megabytes(counts.bytes)} MB transferred`;
const megabytes = (bytes: number) => (bytes / 1e6).toFixed(1);

/**
 * Progress of a transfer on stderr: a line redrawn in place on a terminal (at most ten times a second), NDJSON
 * `transfer-progress` events under --json (at most two a second), nothing in a log file.
 */
export function transferProgress(
  verb: string,
  remote: string,
  json: boolean,
): { update: (counts: TransferCounts) => void; finish: () => void } {
  const terminal = !json && process.stderr.isTTY;
  let shownAt = 0;
  let shown = false;
  return {
    update: (counts) => {
      const now = Date.now();
      if (now - shownAt < (json ? 500 : 100) || (!json && !terminal)) return;
      shownAt = now;
      if (json) process.stdout.write(`${JSON.stringify({ type: 'transfer-progress', verb, remote, ...counts })}\n`);
      else {
        process.stderr.write(
          `\r${verb} ${remote}: ${counts.done}/${counts.total} objects, ${megabytes(counts.bytes)} MB`,
        );
        shown = true;
      }
    },
    finish: () => {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

/** `run --pull` and `status --remote`: the remote a run consults, when one is wanted. */
export function remoteForRun(
  pipeline: Pipeline,
  flags: { pull?: boolean; remote?: string | boolean },
): { remote: RemoteBackend; config: RemoteConfig } | undefined {
  const config = loadRemoteConfig(pipeline.dir);
  const named = typeof flags.remote === 'string' ? flags.remote : undefined;
  const wanted = flags.pull ?? (flags.remote !== undefined || config.pull === true);
  if (!wanted) return undefined;
  return { remote: openRemote(config, named), config };
}

/** What `status` asks a remote: the outputs of the record it holds under a key, checked, without its blobs. */
export function remoteLookup(remote: RemoteBackend): RemoteLookup {
  return {
    label: remote.label,
    outputs: async (stage, key) => {
      const record = await readRemoteRecord(remote, { stage, key });
      return record && { treeHash: record.treeHash, outputs: record.outputs };
    },
  };
}
