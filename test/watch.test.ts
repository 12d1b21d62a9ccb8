import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Store } from '../cache/store.js';
import type { Diagnostic } from '../engine/spec/diagnostics.js';
import { runPipeline } from '../engine/scheduler.js';
import { watchPipeline } from '../engine/watch.js';
import { takeRuns, threeStageProject, waitFor } from './helpers.js';
import { builtInRegistry } from '../stages/registry.js';

test('watch reruns what an edit made stale, and survives a broken edit', async () => {
  const dir = threeStageProject();
  const spec = path.join(dir, 'p.yaml');
  const invalid: Diagnostic[][] = [];
  let runs = 0;
  const handle = watchPipeline(spec, builtInRegistry, {
    debounceMs: 100,
    run: async (pipeline) => {
      const store = new Store(pipeline.storeDir);
      await runPipeline(pipeline, store, { jobs: 2, emit: () => {} });
      runs++;
    },
    invalid: (diagnostics) => invalid.push(diagnostics),
  });
  try {
    await waitFor(() => runs === 1, 15_000, 'the first run');
    assert.deepEqual(takeRuns(dir), ['a', 'b', 'c']);
    // chokidar needs a moment to arm its watchers after the first run.
    await new Promise((r) => setTimeout(r, 300));

    fs.writeFileSync(path.join(dir, 'src.txt'), 'edited source\n');
    await waitFor(() => runs === 2, 15_000, 'a run after the dataset edit');
    assert.deepEqual(takeRuns(dir), ['a', 'b', 'c']);

    const good = fs.readFileSync(spec, 'utf8');
    fs.writeFileSync(
      spec,
      good.replace('type: command\n    cmd: [node, step.mjs, c', 'type: comand\n    cmd: [node, step.mjs, c'),
    );
    await waitFor(() => invalid.length === 1, 15_000, 'the broken edit to be reported');
    assert.equal(invalid[0]![0]!.code, 'unknown-stage-type');
    assert.equal(runs, 2);

    fs.writeFileSync(spec, good.replace('tag: three', 'tag: trois'));
    await waitFor(() => runs === 3, 15_000, 'a run after the fix');
    assert.deepEqual(takeRuns(dir), ['c']);
    assert.equal(fs.readFileSync(path.join(dir, 'out/c.txt'), 'utf8'), 'trois:two:one:edited source\n');
  } finally {
    await handle.close();
  }
});
