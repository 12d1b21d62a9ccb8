import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Diagnostic } from './spec/diagnostics.js';
import { loadPipeline } from './spec/load.js';
import type { Pipeline } from './spec/pipeline.js';
import type { StageRegistry } from './stage.js';

export interface WatchHooks {
  /** Runs what is stale; resolves when the run is over (whatever its outcome). */
  run(pipeline: Pipeline): Promise<void>;
  /** The spec does not validate: shown, then the watcher waits for the next edit. */
  invalid(diagnostics: Diagnostic[]): void;
  /** Files whose change triggered a new run. */
  changed?(files: string[]): void;
  debounceMs?: number;
}

export interface WatchHandle {
  close(): Promise<void>;
  /** Resolves after the run (or validation) started by the latest change has finished. */
  idle(): Promise<void>;
}

/**
 * Watches the spec and what the pipeline reads from outside (source datasets, command deps that no stage
 * writes), and re-runs after edits settle. Outs and the store are not watched, so a run never triggers itself.
 * A broken edit is reported and waited out; the next good edit runs again.
 */
export function watchPipeline(file: string, registry: StageRegistry, hooks: WatchHooks): WatchHandle {
  const specFile = path.resolve(file);
  const debounceMs = hooks.debounceMs ?? 300;
  let watcher: FSWatcher | undefined;
  let watched = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let changedFiles = new Set<string>();
  let busy: Promise<void> = Promise.resolve();
  let again = false;
  let running = false;

  const targetsOf = (pipeline: Pipeline | undefined): Set<string> => {
    const targets = new Set([specFile]);
    if (!pipeline) return targets;
    for (const ds of pipeline.datasets.values()) targets.add(ds.path);
    for (const stage of pipeline.stages.values()) {
      for (const dep of stage.deps) {
        const ownedByStage = [...pipeline.stages.values()].some((s) =>
          s.outs.some((o) => dep === o || dep.startsWith(`${o}/`)),
        );
        if (!ownedByStage) targets.add(path.resolve(pipeline.dir, dep));
      }
    }
    return targets;
  };

  const rewatch = (targets: Set<string>) => {
    const same = targets.size === watched.size && [...targets].every((t) => watched.has(t));
    if (same && watcher) return;
    if (watcher) {
      watcher.unwatch([...watched].filter((t) => !targets.has(t)));
      watcher.add([...targets].filter((t) => !watched.has(t)));
    } else {
      watcher = watch([...targets], {
        ignoreInitial: true,
        ignored: (p) => path.basename(p).startsWith('.') && p !== specFile,
      });
      watcher.on('all', (_event, changed) => schedule(changed));
    }
    watched = targets;
  };

  const cycle = async () => {
    running = true;
    do {
      again = false;
      const result = loadPipeline(specFile, registry);
      if (!result.ok) {
        hooks.invalid(result.diagnostics);
        rewatch(new Set([...watched, specFile]));
        continue;
      }
      rewatch(targetsOf(result.value));
      await hooks.run(result.value);
    } while (again);
    running = false;
  };

  const schedule = (changed: string) => {
    changedFiles.add(changed);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      hooks.changed?.([...changedFiles]);
      changedFiles = new Set();
      // Edits during a run are not lost: the running cycle goes round once more.
      if (running) again = true;
      else busy = cycle();
    }, debounceMs);
  };

  busy = cycle();
  return {
    close: async () => {
      if (timer) clearTimeout(timer);
      await busy;
      await watcher?.close();
    },
    idle: async () => {
      while (timer) await new Promise((resolve) => setTimeout(resolve, 50));
      await busy;
    },
  };
}
