#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { CliExit, EXIT_USAGE } from './common.js';
import { LockfileError } from '../engine/lockfile.js';
import { debugEnabled, REPORT_HINT } from '../engine/debug.js';

// Each verb's module is loaded when it is used: a no-op `run` should not pay for chokidar, and `--help`
// should not pay for anything.

const collect = (value: string, previous: string[] = []) => [...previous, value];

function program(): Command {
  const cli = new Command('fer-dag')
    .description('Declarative, content-addressed pipelines for facial-expression-recognition datasets.')
    .version('0.1.0')
    .showSuggestionAfterError()
    .option('--debug', 'show stack traces of errors (as FER_DAG_DEBUG=1 does); otherwise messages only')
    .exitOverride();
  // The variable, not the flag, is what the engine reads: stages and worker threads inherit it.
  cli.hook('preAction', () => {
    if (cli.opts().debug) process.env.FER_DAG_DEBUG = '1';
  });
  let exitCode = 0;
  const set = (code: number) => {
    exitCode = code;
  };

  cli
    .command('run [pipeline]')
    .description('run the stages whose inputs, params or code changed (default pipeline: pipelines/demo.yaml)')
    .option('--stage <name>', 'run only this stage and what it needs (repeatable)', collect)
    .option('--force <name>', 're-run this stage even if its cached result is valid (repeatable)', collect)
    .option('-j, --jobs <n>', 'stages to run at once (default: number of cores)')
    .option('--dry-run', 'say what would run, run nothing')
    .option('--json', 'NDJSON events on stdout')
    .addOption(new Option('--wait [seconds]', 'wait for another run holding the store instead of failing'))
    .option('--pull', 'look each stale stage up in the remote before computing it (a shared run cache)')
    .option('--no-pull', 'do not, even where the config says pull: true')
    .option('--remote <name|url|folder>', 'the remote --pull and --queue use (default: the configured default)')
    .option('--queue <redis-url>', 'run stale stages on `fer-dag worker`s through this Redis (BullMQ), via the remote')
    .option('--shards <n>', 'with --queue: shard jobs per shardable stage (agr); default: one per worker')
    .action(async (file, flags) => set(await (await import('./run.js')).runCommand(file, flags)));

  cli
    .command('status [pipeline]')
    .description('each stage: fresh, stale (and why) or never run')
    .option('--json', 'machine-readable output')
    .option('--remote [name|url|folder]', "also look in a remote (default: the configured default) for what's missing")
    .action(async (file, flags) => set(await (await import('./status.js')).statusCommand(file, flags)));

  cli
    .command('dag [pipeline]')
    .description('print the stage graph')
    .addOption(new Option('--format <format>', 'graph language').choices(['mermaid', 'dot']).default('mermaid'))
    .action(async (file, flags) => set((await import('./dag.js')).dagCommand(file, flags)));

  cli
    .command('validate <pipeline>')
    .description('check a pipeline file; exit code 2 with file:line:column messages when invalid')
    .action(async (file) => set((await import('./validate.js')).validateCommand(file)));

  cli
    .command('audit <lockA> [lockB]')
    .description('compare two runs stage by stage (or one lockfile against its store) and say why they differ')
    .option('--json', 'machine-readable output')
    .option('--all', 'list stages that are the same too')
    .action(async (a, b, flags) => set((await import('./audit.js')).auditCommand(a, b, flags)));

  cli
    .command('watch [pipeline]')
    .description('re-run what an edit of the spec, a dataset or a dep made stale')
    .option('-j, --jobs <n>', 'stages to run at once')
    .option('--json', 'NDJSON events on stdout')
    .action(async (file, flags) => set(await (await import('./watch.js')).watchCommand(file, flags)));

  cli
    .command('export <pipeline> <stage> <dir>')
    .description(
      "write a stage's output files into DIR; a dataset is also laid out as DIR/<class id>/… or DIR/<emotion>/<subgroup>/…",
    )
    .addOption(
      new Option('--by <layout>', 'folder layout of a dataset').choices(['class', 'subgroup']).default('class'),
    )
    .option('--overwrite', 'replace DIR if it is not empty')
    .option(
      '--link',
      'hard-link images to the store instead of copying them: no extra space, but a write to an ' +
        "exported image (by root, or after a chmod) changes the store's copy too and corrupts it",
    )
    .action(async (file, stage, dir, flags) =>
      set(await (await import('./export.js')).exportCommand(file, stage, dir, flags)),
    );

  cli
    .command('report [pipeline]')
    .description("copy the report stage's report.html out of the store, print its path and the accuracy matrix")
    .option('--stage <name>', 'the report stage, when the pipeline has several')
    .option('--open', "open report.html in the desktop's browser")
    .action(async (file, flags) => set(await (await import('./report-command.js')).reportCommand(file, flags)));

  cli
    .command('serve [pipeline]')
    .description('the web page that boxes and labels every face of a video or image with a trained model')
    .option('--model <stage>', 'the train stage whose model labels faces (default: the one trained on every source)')
    .option('--port <n>', 'port to listen on', '8080')
    .option('--host <address>', 'address to bind; 0.0.0.0 serves other machines too', '127.0.0.1')
    .option('--max-upload-mb <n>', 'largest upload accepted', '500')
    .option('--fps <n>', 'frames analysed per second of video, unless the upload says', '5')
    .option('--min-confidence <p>', 'faces blazeface scores below this are ignored', '0.5')
    .option(
      '--crop-scale <x>',
      'crop faces at this multiple of the face box, centred, instead of the framing measured on the training images',
    )
    .option(
      '--tiles <n>',
      'also look for faces in n×n overlapping tiles of each frame (small faces, a classroom; costs n²+1 detections)',
      '1',
    )
    .option(
      '--provider <name>',
      'where the models run: cpu (onnxruntime), cuda or webgpu (its GPU providers), tfjs',
      'cpu',
    )
    .option('--max-duration <minutes>', 'longest video analysed; a longer one is refused before decoding', '30')
    .option(
      '--max-megapixels <n>',
      'largest image or video frame, in millions of pixels; larger is refused before decoding',
      '50',
    )
    .option('--headers-timeout-s <s>', 'seconds a client has to send its request headers', '30')
    .option('--request-timeout-s <s>', 'seconds a client has to send its whole request, upload included', '600')
    .option('--idle-timeout-s <s>', 'seconds a connection may stay silent before it is closed', '60')
    .action(async (file, flags) => set(await (await import('./serve.js')).serveCommand(file, flags)));

  const transfer = (verb: string, description: string) =>
    cli
      .command(`${verb} [pipeline]`)
      .description(description)
      .option('--remote <name|url|folder>', 'a configured remote, or a URL or folder (default: the default remote)')
      .option('--stage <name>', 'only this stage (repeatable)', collect)
      .option('-j, --jobs <n>', 'transfers at once (default 8)')
      .option('--json', 'NDJSON progress and summary on stdout');
  transfer('push', "upload the lockfile's results (records, blobs, memo entries) to a remote").action(
    async (file, flags) => set(await (await import('./transfer.js')).pushCommand(file, flags)),
  );
  transfer('pull', "download the lockfile's results from a remote into the store, verified by their hashes").action(
    async (file, flags) => set(await (await import('./transfer.js')).pullCommand(file, flags)),
  );

  cli
    .command('worker')
    .description('take stage and shard jobs from a BullMQ queue and run them (inputs and outputs through the remote)')
    .requiredOption('--queue <redis-url>', 'redis://host:6379/0 (or rediss://, redis+unix:///socket)')
    .option('--remote <name|url|folder>', 'where inputs come from and results go (default: the default remote)')
    .option('--concurrency <n>', 'jobs at once, each with its own store and workspace copy', '1')
    .option('--tags <a,b>', 'what this machine has (e.g. gpu): it also takes the jobs of stages that need them')
    .option('--dir <folder>', 'where workspaces and stores are kept (default ~/.cache/fer-dag/worker)')
    .option('--lock-seconds <s>', "a killed worker's job goes to another after this long", '30')
    .action(async (flags) => set(await (await import('./worker.js')).workerCommand(flags)));

  const remote = cli.command('remote').description('the remotes results are shared through (fer-dag.config.yaml)');
  remote
    .command('list')
    .description('the remotes that apply here, the default marked')
    .option('--json', 'machine-readable output')
    .action(async (flags) => set((await import('./remote.js')).remoteListCommand(flags)));
  remote
    .command('add <name> <url>')
    .description('add a remote (s3://bucket/prefix, http(s)://host/prefix or a folder) to fer-dag.config.yaml')
    .option('--default', 'make it the default remote')
    .option('--local', 'write fer-dag.config.local.yaml (this machine only, not committed) instead')
    .option('--endpoint <url>', 'S3: an S3-compatible endpoint (MinIO, Ceph)')
    .option('--region <region>', "S3: the bucket's region")
    .option('--path-style', 'S3: bucket in the path, as MinIO needs')
    .action(async (name, url, flags) => set((await import('./remote.js')).remoteAddCommand(name, url, flags)));

  const cache = cli.command('cache').description('maintain the content-addressed store');
  cache
    .command('verify [pipeline]')
    .description(
      're-hash every object; drop corrupt ones and the results that need them, so the next run recomputes them',
    )
    .option('--wait <seconds>', 'wait for the store lock')
    .action(async (file, flags) => set(await (await import('./cache.js')).cacheVerifyCommand(file, flags)));
  cache
    .command('gc [pipeline]')
    .description(
      'remove results and objects that no lockfile using the store references (the store lists them in roots/)',
    )
    .option('--wait <seconds>', 'wait for the store lock')
    .option('--forget-missing', 'also remove the results of lockfiles that no longer exist (a deleted pipeline folder)')
    .action(async (file, flags) => set(await (await import('./cache.js')).cacheGcCommand(file, flags)));

  cli.hook('postAction', () => {
    process.exitCode = exitCode;
  });
  return cli;
}

// What escapes every await (a stream's error event, a stray rejection) is reported the same way, not as a raw stack.
process.on('uncaughtException', (error) => {
  reportUnexpected(error);
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  reportUnexpected(reason);
  process.exit(1);
});

// `fer-dag status | head` closes our stdout early: that is the reader's choice, not an error to report.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

try {
  await program().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CliExit) {
    if (error.message) process.stderr.write(`${error.message}\n`);
    process.exitCode = error.code;
  } else if (error instanceof LockfileError) {
    process.stderr.write(`fer-dag: ${error.message}\n`);
    process.exitCode = EXIT_USAGE;
  } else if (error instanceof Error && (error.name === 'RemoteError' || error.name === 'RemoteConfigError')) {
    // A remote that cannot be reached or a bad fer-dag.config.yaml: the message names which and why.
    process.stderr.write(`${error.name === 'RemoteError' ? 'fer-dag: ' : ''}${error.message}\n`);
    process.exitCode = error.name === 'RemoteError' ? 1 : EXIT_USAGE;
  } else if (error instanceof Error && error.name === 'CorruptBlobError') {
    // Checked by name: importing the store here would slow every command's start. The blob is already removed.
    process.stderr.write(`fer-dag: ${error.message}; run the pipeline again to recompute it\n`);
    process.exitCode = 1;
  } else if (error instanceof CommanderError) {
    // Help and version end with code 0; a usage mistake with 2, as an invalid pipeline does.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    reportUnexpected(error);
    process.exitCode = 1;
  }
}

/**
 * An error no command turned into a message. Its stack is for developers (--debug, FER_DAG_DEBUG=1); a user
 * sees the message, and for what can only be a bug, a line saying how to report it.
 */
function reportUnexpected(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  if (debugEnabled() || process.argv.includes('--debug')) {
    process.stderr.write(`fer-dag: internal error: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
  } else if (isSystemError(error)) {
    // A full disk, a permission, a path that is a file: the message names the path and the cause.
    process.stderr.write(`fer-dag: ${message}\n`);
  } else {
    process.stderr.write(`fer-dag: internal error: ${message}\n(${REPORT_HINT})\n`);
  }
}

function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && /^E[A-Z]+$/.test(String((error as NodeJS.ErrnoException).code));
}
