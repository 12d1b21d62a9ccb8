import * as fs from 'node:fs';
import * as path from 'node:path';
import { listFiles } from '../cache/tree.js';
import { removeWorkspaceOut } from '../engine/workspace-paths.js';
import type { StageContext, StageDefinition, StageEntry } from './types.js';

export interface CommandParams {
  cmd: string[];
  deps: string[];
  outs: string[];
  params: Record<string, unknown>;
  env: Record<string, string>;
}

/** How much of a failed command's stderr goes into the error message. */
const STDERR_TAIL_LINES = 20;

export class CommandFailedError extends Error {}

/** `${params.size}`, `${seed}` and `${stage}` in argv items; anything else is left for the program. */
function interpolate(arg: string, ctx: StageContext<CommandParams>): string {
  return arg.replace(/\$\{(params\.[A-Za-z0-9_.]+|seed|stage)\}/g, (whole, name: string) => {
    if (name === 'seed') return String(ctx.seed);
    if (name === 'stage') return ctx.stage;
    let value: unknown = ctx.params.params;
    for (const part of name.split('.').slice(1)) value = (value as Record<string, unknown> | undefined)?.[part];
    if (value === undefined) throw new CommandFailedError(`cmd uses ${whole} but params has no such value`);
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

export const commandStage: StageDefinition<CommandParams> = {
  type: 'command',
  version: '1',
  schema: 'command.schema.json',
  produces: 'files',
  accepts: { inputs: ['any'] },

  params: (entry: StageEntry) => entry as unknown as CommandParams,

  // deps enter the key by content, not by name; everything else that shapes the run does by value.
  keyParams: (entry: StageEntry) => {
    const { cmd, outs, params, env } = entry as unknown as CommandParams;
    return { cmd, outs, params, env };
  },

  workspacePaths: (entry: StageEntry) => {
    const { deps, outs } = entry as unknown as CommandParams;
    return { deps, outs };
  },

  uncacheableReason: (entry: StageEntry) =>
    (entry as unknown as CommandParams).outs.length === 0 ? 'declares no outs, so it cannot be cached and runs every time' : undefined,

  async run(ctx) {
    const { cmd, outs, params, env } = ctx.params;
    // A previous, interrupted run may have left partial outputs; the command always starts from none.
    for (const out of outs) removeWorkspaceOut(ctx.pipelineDir, out);
    const argv = cmd.map((arg) => interpolate(arg, ctx));
    for (const out of outs) fs.mkdirSync(path.dirname(path.resolve(ctx.pipelineDir, out)), { recursive: true });

    const { execa } = await import('execa'); // loaded when a command runs, not on every no-op
    const result = await execa(argv[0]!, argv.slice(1), {
      cwd: ctx.pipelineDir,
      env: { ...env, FER_DAG_STAGE: ctx.stage, FER_DAG_SEED: String(ctx.seed), FER_DAG_PARAMS: JSON.stringify(params) },
      stdin: 'ignore',
      reject: false,
      cancelSignal: ctx.signal,
      stripFinalNewline: false,
      maxBuffer: 256 * 1024 * 1024,
    });
    ctx.output.setLog(String(result.stdout ?? ''), String(result.stderr ?? ''));
    if (result.failed) {
      const why = result.isCanceled
        ? 'was cancelled'
        : result.exitCode !== undefined
          ? `exited with code ${result.exitCode}`
          : result.signal
            ? `was killed by ${result.signal}`
            : `could not start: ${result.originalMessage ?? result.shortMessage}`;
      const stderr = tail(String(result.stderr ?? ''), STDERR_TAIL_LINES);
      throw new CommandFailedError(`\`${argv.join(' ')}\` ${why}${stderr ? `\n${stderr}` : ''}`);
    }

    for (const out of outs) {
      const abs = path.resolve(ctx.pipelineDir, out);
      if (!fs.existsSync(abs)) throw new CommandFailedError(`the command finished but did not write its declared out "${out}"`);
      if (fs.statSync(abs).isDirectory()) {
        for (const file of listFiles(abs)) await ctx.output.addFile(`${out}/${file.rel}`, file.abs);
      } else {
        await ctx.output.addFile(out, abs);
      }
    }
  },
};
