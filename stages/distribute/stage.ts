import { distribution, distributionMarkdown } from '../../datasets/distribution.js';
import { SUBGROUPS, subgroupOf } from '../../datasets/vocabulary.js';
import { stratifiedSplit, type SplitFractions } from './split.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { readManifest, writeManifest } from '../../datasets/manifest.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { defineStage } from '../../engine/stage.js';
import type { DistributeEntry } from '../../schemas/types/distribute.js';
import { splitProblems } from './entry-checks.js';

export const distributeStage = defineStage<DistributeEntry>({
  type: 'distribute',
  version: '1',
  schema: 'distribute.schema.json',
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
    const output: ManifestRecord[] = new Array(input.length);
    const sources = [...new Set(input.map((r) => r.source))].sort();
    for (const source of sources) {
      for (const emotion of [...EMOTIONS, ...new Set(input.map((r) => r.label).filter((l) => !EMOTIONS.includes(l)))]) {
        const stratum = input.map((r, i) => ({ r, i })).filter(({ r }) => r.source === source && r.label === emotion);
        // Sorted by blob first, so the split does not depend on the order records arrive in.
        stratum.sort((a, b) => (a.r.blob < b.r.blob ? -1 : a.r.blob > b.r.blob ? 1 : a.i - b.i));
        const splits = stratifiedSplit(
          stratum,
          fractions,
          ({ r }) => subgroupOf(r) ?? '~',
          ctx.random(`${source} ${emotion}`),
        );
        stratum.forEach(({ r, i }, k) => {
          const { split: sourceSplit, subgroup: _old, ...rest } = r;
          const subgroup = subgroupOf(r);
          output[i] = {
            ...rest,
            ...(sourceSplit !== undefined ? { sourceSplit } : {}),
            ...(subgroup ? { subgroup } : {}),
            split: fractions[splits[k] as number]![0],
          };
        });
      }
    }
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
  },
});
