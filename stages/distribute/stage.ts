import { distribution, distributionMarkdown, type Distribution } from '../../datasets/distribution.js';
import { SUBGROUPS, subgroupOf } from '../../datasets/vocabulary.js';
import { type SplitFractions } from './split.js';
import { assignSplits, clusterCounts, leakage } from './grouped.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { readManifest, writeManifest } from '../../datasets/manifest.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { defineStage } from '../../engine/stage.js';
import type { DistributeEntry } from '../../schemas/types/distribute.js';
import { splitProblems } from './entry-checks.js';

/** The fewest images in a split of any non-empty source × emotion. */
function smallestCell(counts: Distribution, splits: readonly string[]): number {
  const cells = Object.values(counts.sources).flatMap((emotions) =>
    Object.values(emotions)
      .filter((e) => e.total > 0)
      .flatMap((e) => splits.map((split) => e.splits[split] ?? 0)),
  );
  return cells.length ? Math.min(...cells) : 0;
}

export const distributeStage = defineStage<DistributeEntry>({
  type: 'distribute',
  version: '2',
  schema: 'distribute.schema.json',
  measures: {
    images: 'images in the output manifest',
    crossSplitDuplicates: 'near-duplicate pairs (from a quality stage upstream) whose images sit in different splits',
    imagesPerCell: 'the fewest images in any split of a source × emotion that has images',
  },
  produces: 'manifest',
  accepts: { input: ['manifest'] },
  checkEntry: splitProblems,
  async run(ctx) {
    const p = ctx.params;
    const fractions: SplitFractions = Object.entries(p.split);
    // validate refuses such a split; checked again for a pipeline built without the loader.
    for (const problem of splitProblems(p)) throw new Error(`params.split ${problem.message}`);
    const [view] = [...ctx.inputs.values()];
    const input = readManifest(view, 'distribute');
    if (input.length && !input.some((r) => subgroupOf(r))) {
      throw new Error(
        `no image of ${view?.name} has gender, age and ethnicity: distribute's input must be an agr stage`,
      );
    }
    const sources = [...new Set(input.map((r) => r.source))].sort();
    const splitNames = fractions.map(([name]) => name);
    const splits = assignSplits(input, fractions, (label) => ctx.random(label), p.groupDuplicates);
    const output: ManifestRecord[] = input.map((r, i) => {
      const { split: sourceSplit, subgroup: _old, ...rest } = r;
      const subgroup = subgroupOf(r);
      return {
        ...rest,
        ...(sourceSplit !== undefined ? { sourceSplit } : {}),
        ...(subgroup ? { subgroup } : {}),
        split: splitNames[splits[i] as number]!,
      };
    });
    // What a split blind to the clusters would have leaked, beside what this one does.
    const before = p.groupDuplicates
      ? leakage(
          input,
          assignSplits(input, fractions, (l) => ctx.random(l), false),
        )
      : undefined;
    const after = leakage(input, splits);
    ctx.output.writeJson('leakage.json', {
      grouped: p.groupDuplicates,
      ...clusterCounts(input),
      before: before ?? after,
      after,
    });
    for (const r of output) ctx.output.reference(r.blob);
    writeManifest(ctx.output, output);
    const counts = distribution(
      output,
      fractions.map(([s]) => s),
      p.split,
    );
    ctx.output.writeJson('distribution.json', counts);
    ctx.output.writeFile('distribution.md', distributionMarkdown(counts));
    if (p.plots) {
      const { renderAttributeShares, renderSubgroupHeatmap } = await import('../../report/charts/distribution.js');
      for (const source of sources) {
        const of = output.filter((r) => r.source === source && r.subgroup);
        const share = (key: 'gender' | 'age' | 'ethnicity') => {
          const tally: Record<string, number> = {};
          for (const r of of) tally[r[key] as string] = (tally[r[key] as string] ?? 0) + 1;
          return tally;
        };
        ctx.output.writeFile(
          `plots/${source}-attributes.png`,
          (
            await renderAttributeShares(source, {
              gender: share('gender'),
              age: share('age'),
              ethnicity: share('ethnicity'),
            })
          ).png,
        );
        const cells = EMOTIONS.flatMap((emotion) =>
          SUBGROUPS.map((subgroup) => ({
            emotion,
            subgroup,
            count: Object.values(counts.sources[source]![emotion]!.subgroups[subgroup]!).reduce((a, b) => a + b, 0),
          })),
        );
        ctx.output.writeFile(`plots/${source}-subgroups.png`, (await renderSubgroupHeatmap(source, cells)).png);
      }
    }
    ctx.output.setMetrics({ images: output.length, withoutSubgroup: output.filter((r) => !r.subgroup).length });
    ctx.output.setMeasures({
      images: output.length,
      crossSplitDuplicates: after.crossSplitPairs,
      imagesPerCell: smallestCell(counts, splitNames),
    });
  },
});
