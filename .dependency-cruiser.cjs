/**
 * The import boundaries of fer-dag: arrows point one way, down. From the top:
 *   cli/  →  serve/, stages/  →  libraries: report/ → synth/ → ml/ → datasets/  →  engine/, cache/, lib/
 *   cli/  →  distributed/ (queue, workers)  →  remote/ (remote stores, transfers)  →  engine/, cache/, lib/
 * Libraries may import the stage contract (engine/stage.ts) for its types only; engine/ and cache/ know nothing of
 * faces, stages or the command line. bench/ and test/ sit outside: nothing imports them and bench/ does not import
 * test/. `npm run lint` runs this; test/import-boundaries.test.ts proves each rule fails on a wrong import.
 */

/** Folders of the library layers, top first: each may import only the ones after it (and lib/, cache/). */
const LIBRARIES = ['report', 'synth', 'ml', 'datasets'];
const BELOW_ENGINE = '^(stages|ml|datasets|synth|report|serve|cli|remote|distributed)/';

/** One rule per library: it imports no library above it. */
const librariesDownward = LIBRARIES.slice(1).map((library, index) => ({
  name: `${library}-not-upward`,
  comment: `${library}/ is below ${LIBRARIES.slice(0, index + 1).join('/, ')}/: it may import only the libraries under it`,
  severity: 'error',
  from: { path: `^${library}/` },
  to: { path: `^(${LIBRARIES.slice(0, index + 1).join('|')})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'resolvable',
      comment: 'An import that resolves to no file: a typo, or a package missing from package.json.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-file-cycles',
      comment: 'A file reaches itself through its imports; a type-only import counts, as it ties the two files too.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'Two folders import each other, directly or around a loop: one of them is in the wrong place.',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'engine-knows-no-plugins',
      comment: 'engine/ and cache/ run any stage: they import nothing of faces, stages, serve or the command line.',
      severity: 'error',
      from: { path: '^(engine|cache)/' },
      to: { path: BELOW_ENGINE },
    },
    {
      name: 'remote-knows-no-faces',
      comment:
        'remote/ and distributed/ move and run any stage: they import nothing of faces, stages, serve or the CLI ' +
        '(a worker is handed the stage registry by the CLI); remote/ does not import distributed/.',
      severity: 'error',
      from: { path: '^(remote|distributed)/' },
      to: { path: '^(stages|ml|datasets|synth|report|serve|cli)/' },
    },
    {
      name: 'remote-below-distributed',
      comment: 'distributed/ builds on remote/: the remote stores know nothing of queues.',
      severity: 'error',
      from: { path: '^remote/' },
      to: { path: '^distributed/' },
    },
    {
      name: 'lib-is-the-floor',
      comment: 'lib/ (seeded random, worker pool, process groups) imports nothing else of the project.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(cli|serve|stages|report|synth|ml|datasets|engine|cache|remote|distributed|test|bench)/' },
    },
    ...librariesDownward,
    {
      name: 'libraries-not-up',
      comment: 'A library imports no stage, no web app and no command line: they import it.',
      severity: 'error',
      from: { path: `^(${LIBRARIES.join('|')})/` },
      to: { path: '^(stages|serve|cli)/' },
    },
    {
      name: 'libraries-take-only-the-contract',
      comment: 'A library sees the engine only through the stage contract (engine/stage.ts), and only its types.',
      severity: 'error',
      from: { path: `^(${LIBRARIES.join('|')})/` },
      to: { path: '^engine/', pathNot: '^engine/stage\\.ts$' },
    },
    {
      name: 'libraries-take-the-contract-as-types',
      comment: 'engine/stage.ts is imported with `import type`: a library runs without the engine.',
      severity: 'error',
      from: { path: `^(${LIBRARIES.join('|')})/` },
      to: { path: '^engine/stage\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'serve-no-stages',
      comment: 'fer-dag serve uses the libraries, the engine and the store; never a stage module or the CLI.',
      severity: 'error',
      from: { path: '^serve/' },
      to: { path: '^(stages|cli)/' },
    },
    {
      name: 'stages-not-up',
      comment: 'A stage is wired in by the CLI: it imports neither the CLI nor the web app.',
      severity: 'error',
      from: { path: '^stages/' },
      to: { path: '^(cli|serve)/' },
    },
    {
      name: 'no-stage-imports-another',
      comment: 'A stage folder is one stage type: what two stages share belongs in a library.',
      severity: 'error',
      from: { path: '^stages/([^/]+)/' },
      to: { path: '^stages/[^/]+/', pathNot: '^stages/$1/' },
    },
    {
      name: 'only-the-cli-loads-the-registry',
      comment: 'stages/registry.ts imports every stage; the CLI hands it to the engine.',
      severity: 'error',
      from: { pathNot: '^(cli|test|bench)/' },
      to: { path: '^stages/registry\\.ts$' },
    },
    {
      name: 'bench-not-test',
      comment: 'Benchmarks use the published code, not test helpers.',
      severity: 'error',
      from: { path: '^bench/' },
      to: { path: '^test/' },
    },
    {
      name: 'nothing-imports-test',
      comment: 'test/ is not published: nothing outside it may need it (bench/ has its own rule above).',
      severity: 'error',
      from: { pathNot: '^(test|bench)/' },
      to: { path: '^test/' },
    },
    {
      name: 'nothing-imports-bench',
      comment: 'bench/ is not published: nothing outside it may need it.',
      severity: 'error',
      from: { pathNot: '^bench/' },
      to: { path: '^bench/' },
    },
  ],
  options: {
    // Type-only imports are dependencies too (the contract rule needs to see them).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    // Packages resolved as Node resolves an ESM import, so that an unresolvable import is a real one.
    enhancedResolveOptions: {
      extensions: ['.ts', '.js'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default', 'types'],
    },
  },
};
