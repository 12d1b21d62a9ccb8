import * as fs from 'node:fs';
import * as path from 'node:path';
import { listFiles } from '../../cache/tree.js';
import { runInOwnGroup } from '../../lib/group-process.js';
import { defineStage, StageFailedError, type StageContext } from '../../engine/stage.js';
import type { CommandEntry } from '../../schemas/types/command.js';
import type { CommandParams } from './params.js';

/** How much of a failed command's stderr goes into the error message. */
const STDERR_TAIL_LINES = 20;

/** `${params.size}`, `${seed}` and `${stage}` in argv items; anything else is left for the program. */
function interpolate(arg: string, ctx: StageContext<CommandParams>): string {
  return arg.replace(/\$\{(params\.[A-Za-z0-9_.]+|seed|stage)\}/g, (whole, name: string) => {
    if (name === 'seed') return String(ctx.seed);
    if (name === 'stage') return ctx.stage;
    let value: unknown = ctx.params.params;
    for (const part of name.split('.').slice(1)) value = (value as Record<string, unknown> | undefined)?.[part];
    if (value === undefined) throw new StageFailedError(`cmd uses ${whole} but params has no such value`);
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

interface OutFile {
  abs: string;
  /** Size, modification time (ns) and inode: a write or a replacement changes one of them. */
  version: string;
}

/** Every file of the outs, by its path relative to the pipeline's folder; a missing out is an error. */
function snapshotOuts(pipelineDir: string, outs: string[]): Map<string, OutFile> {
  const files = new Map<string, OutFile>();
  const add = (rel: string, abs: string) => {
    const stat = fs.statSync(abs, { bigint: true, throwIfNoEntry: false });
    files.set(rel, { abs, version: stat ? `${stat.size}:${stat.mtimeNs}:${stat.ino}` : 'gone' });
  };
  for (const out of outs) {
    const abs = path.resolve(pipelineDir, out);
    const stat = fs.statSync(abs, { throwIfNoEntry: false });
    if (!stat) throw new StageFailedError(`the command finished but did not write its declared out "${out}"`);
    if (stat.isDirectory()) for (const file of listFiles(abs)) add(`${out}/${file.rel}`, file.abs);
    else add(out, abs);
  }
  return files;
}

function firstChange(before: Map<string, OutFile>, after: Map<string, OutFile>): string | undefined {
  for (const [rel, file] of after) if (before.get(rel)?.version !== file.version) return rel;
  for (const rel of before.keys()) if (!after.has(rel)) return rel;
  return undefined;
}

export const commandStage = defineStage<CommandEntry, CommandParams>({
  type: 'command',
  version: '1',
  schema: 'command.schema.json',
  produces: 'files',
  accepts: { inputs: ['any'] },

  params: (entry) => entry,

  // deps enter the key by content, not by name; everything else that shapes the run does by value.
  keyParams: ({ cmd, outs, params, env }) => ({ cmd, outs, params, env }),

  workspacePaths: ({ deps, outs }) => ({ deps, outs }),

  uncacheableReason: ({ outs }) =>
    outs.length === 0 ? 'declares no outs, so it cannot be cached and runs every time' : undefined,

  async run(ctx) {
    const { cmd, outs, params, env } = ctx.params;
    // A previous, interrupted run may have left partial outputs; the command always starts from none.
    for (const out of outs) ctx.removeOut(out);
    const argv = cmd.map((arg) => interpolate(arg, ctx));
    for (const out of outs) fs.mkdirSync(path.dirname(path.resolve(ctx.pipelineDir, out)), { recursive: true });

    const result = await runInOwnGroup(argv, {
      cwd: ctx.pipelineDir,
      env: {
        ...process.env,
        ...env,
        FER_DAG_STAGE: ctx.stage,
        FER_DAG_SEED: String(ctx.seed),
        FER_DAG_PARAMS: JSON.stringify(params),
      },
      signal: ctx.signal,
    });
    ctx.output.setLog(result.stdout, result.stderr);
    const why = result.startError
      ? `could not start: ${result.startError.message}`
      : result.cancelled
        ? 'was cancelled'
        : result.groupLeftAlive
          ? 'left processes that SIGKILL could not end, so its outs cannot be trusted'
          : result.code !== 0
            ? result.code !== null
              ? `exited with code ${result.code}`
              : `was killed by ${result.signal}`
            : undefined;
    if (why) {
      const stderr = tail(result.stderr, STDERR_TAIL_LINES);
      throw new StageFailedError(`\`${argv.join(' ')}\` ${why}${stderr ? `\n${stderr}` : ''}`);
    }

    // The command's group is gone, but a program that left it (setsid, a daemon) could still be writing: the
    // outs are stored only if nothing about them changed between the look before and the look after.
    const before = snapshotOuts(ctx.pipelineDir, outs);
    let changed: string | undefined;
    for (const [rel, file] of before) {
      try {
        await ctx.output.addFile(rel, file.abs);
      } catch (error) {
        // Removed or rewritten while it was read: say so; anything else is a real store failure.
        changed = firstChange(before, snapshotOuts(ctx.pipelineDir, outs));
        if (!changed) throw error;
        break;
      }
    }
    changed ??= firstChange(before, snapshotOuts(ctx.pipelineDir, outs));
    if (changed) {
      throw new StageFailedError(
        `the out file ${changed} changed while fer-dag was storing it: a program the command started is still ` +
          'writing into its outs (one that left its process group, e.g. a daemon); the result was not cached. ' +
          'Make the command wait for every program it starts.',
      );
    }
  },
});
