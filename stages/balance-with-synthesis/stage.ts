import type { Hash } from '../../cache/hash.js';
import { manifestText, MANIFEST, readManifest, writeManifest } from '../../datasets/manifest.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { checkModelFiles } from '../../synth/model-files.js';
import { selectEvaluator } from '../../synth/select.js';
import { defineStage } from '../../engine/stage.js';
import type { BalanceWithSynthesisEntry } from '../../schemas/types/balance-with-synthesis.js';
import { ageBucketProblems } from '../../datasets/age-buckets.js';
import { synthesizerProblems } from '../../synth/types.js';

/**
 * The format a source's images have, most of them: generated images are converted to it (the paper: NHFI's
 * 224×224 gray).
 */
function sourceFormat(records: readonly ManifestRecord[]): { size: number; channels: 1 | 3; format: 'png' | 'jpeg' } {
  const mode = <T>(values: T[]): T => {
    const counts = new Map<T, number>();
    for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  };
  return {
    size: mode(records.map((r) => Math.max(r.width, r.height))),
    channels: mode(records.map((r) => (r.channels >= 3 ? 3 : 1))) as 1 | 3,
    format: mode(records.map((r) => (r.format === 'jpeg' || r.format === 'jpg' ? 'jpeg' : 'png'))) as 'png' | 'jpeg',
  };
}

export const balanceWithSynthesisStage = defineStage<BalanceWithSynthesisEntry>({
  type: 'balance-with-synthesis',
  version: '2',
  schema: 'balance-with-synthesis.schema.json',
  produces: 'manifest',
  accepts: { input: ['manifest'], models: ['model'] },
  checkEntry: (params) => [...ageBucketProblems(params), ...synthesizerProblems(params)],
  modelFiles: (params) => checkModelFiles(params.checks),
  async run(ctx) {
    const p = ctx.params;
    const inputName = typeof ctx.entry.input === 'string' ? ctx.entry.input : undefined;
    const view = inputName ? ctx.input(inputName) : undefined;
    const records = readManifest(view, 'balance-with-synthesis');
    if (!records.some((r) => r.subgroup))
      throw new Error(
        `${view?.name}/${MANIFEST} has no subgroups: balance-with-synthesis needs a distribute stage as input`,
      );
    const known = [...new Set(records.map((r) => r.source))].sort();
    if (p.sources !== 'all') {
      const missing = p.sources.filter((s) => !known.includes(s));
      if (missing.length)
        throw new Error(
          `sources names ${missing.map((s) => `"${s}"`).join(', ')}, not a source of ${view?.name} (its sources: ${known.join(', ')})`,
        );
    }
    const sources = p.sources === 'all' ? known : known.filter((s) => (p.sources as string[]).includes(s));
    if (!records.some((r) => r.split === p.split))
      throw new Error(
        `no image of ${view?.name} is in the "${p.split}" split (splits there: ${[...new Set(records.map((r) => r.split))].join(', ')}); set split: to the part the evaluator is picked from`,
      );

    const selection = selectEvaluator(records, sources, p.split, p.perSubgroup, (label) => ctx.random(`pick ${label}`));
    ctx.log(
      `evaluator: ${[...selection.picked.values()].reduce((n, r) => n + r.length, 0)} real images picked, ${selection.holes.length} holes to fill`,
    );

    const { fillHoles } = await import('../../synth/fill.js');
    const formats = new Map(sources.map((s) => [s, sourceFormat(records.filter((r) => r.source === s))]));
    const { outcomes, tally } = await fillHoles(ctx, selection.holes, (hole) => formats.get(hole.source)!);

    // The evaluator: picked real images and accepted generated ones; everything else of the input is for training.
    const evaluatorBlobs = new Set<Hash>([...selection.picked.values()].flat().map((r) => r.blob));
    const generated = outcomes.flatMap((o) => (o.record ? [o.record] : []));
    const output: ManifestRecord[] = [
      ...records.map((r) =>
        evaluatorBlobs.has(r.blob) && r.split === p.split
          ? { ...r, split: 'evaluator' }
          : r.split === p.split
            ? { ...r, split: 'train' }
            : r,
      ),
      ...generated,
    ];
    for (const r of output) ctx.output.reference(r.blob);
    writeManifest(ctx.output, output);
    const evaluator = output.filter((r) => r.split === 'evaluator');
    ctx.output.writeFile('evaluator.jsonl', manifestText(evaluator));
    for (const source of sources)
      ctx.output.writeFile(`evaluator/${source}.jsonl`, manifestText(evaluator.filter((r) => r.source === source)));

    const [{ buildBalanceReport }, { renderGeneratedSheet }] = await Promise.all([
      import('./fill-summary.js'),
      import('../../report/synthesis.js'),
    ]);
    const report = buildBalanceReport(sources, selection, outcomes, p);
    ctx.output.writeJson('deficits.json', report.deficits);
    ctx.output.writeJson('acceptance.json', report.acceptance);
    ctx.output.writeFile('balance.md', report.markdown);
    ctx.output.writeFile(
      'contact-sheet.png',
      await renderGeneratedSheet(generated, p.sheetPerEmotion, (blob) => ctx.readBlob(blob)),
    );
    ctx.output.setMetrics({ ...report.metrics, ...tally });
  },
});
