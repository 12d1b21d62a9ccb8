import { Store } from '../cache/store.js';
import { pipelineStatus, type StageStatus } from '../engine/status.js';
import { describeCheck, failedChecks } from '../engine/checks.js';
import { EXIT_OK, loadOrExit } from './common.js';
import { remoteForRun, remoteLookup } from './transfer.js';

export async function statusCommand(
  file: string | undefined,
  flags: { json?: boolean; remote?: string | boolean },
): Promise<number> {
  const pipeline = loadOrExit(file);
  const consulted = remoteForRun(pipeline, flags);
  let statuses;
  try {
    const lookup = consulted && remoteLookup(consulted.remote);
    statuses = await pipelineStatus(pipeline, new Store(pipeline.storeDir), [], lookup);
  } finally {
    await consulted?.remote.close();
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ pipeline: pipeline.file, stages: statuses })}\n`);
    return EXIT_OK;
  }
  const width = Math.max(...statuses.map((s) => s.stage.length));
  for (const s of statuses) {
    const name = s.stage.padEnd(width);
    if (s.state === 'fresh') {
      process.stdout.write(
        `${name}  fresh${s.remote ? ` (in remote ${s.remote})` : ''}${!s.remote && s.restore.length ? ` (outs missing or edited in the workspace, restored by run: ${s.restore.join(', ')})` : ''}${gateText(s)}\n`,
      );
    } else {
      const label = { stale: 'stale', 'never-run': 'never run', 'always-runs': 'always runs', blocked: 'blocked' }[
        s.state
      ];
      process.stdout.write(`${name}  ${label}${s.reasons.length ? `: ${s.reasons.join('; ')}` : ''}\n`);
    }
  }
  return EXIT_OK;
}

/** `, gate failed: check maxNoFaceShare failed: noFaceShare is 0.05, more than 0.02`, and warnings likewise. */
function gateText(status: Extract<StageStatus, { state: 'fresh' }>): string {
  const { errors, warnings } = failedChecks(status.checks ?? []);
  const parts = [
    ...(errors.length ? [`gate failed: ${errors.map(describeCheck).join('; ')}`] : []),
    ...(warnings.length ? [`warning: ${warnings.map(describeCheck).join('; ')}`] : []),
  ];
  return parts.map((p) => `, ${p}`).join('');
}
