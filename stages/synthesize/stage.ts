import { SUBGROUPS } from '../../datasets/vocabulary.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { writeManifest } from '../../datasets/manifest.js';
import type { ManifestRecord } from '../../datasets/record.js';
import { checkModelFiles } from '../../synth/model-files.js';
import type { Hole } from '../../synth/select.js';
import { defineStage } from '../../engine/stage.js';
import type { SynthesizeEntry } from '../../schemas/types/synthesize.js';
import { ageBucketProblems } from '../../datasets/age-buckets.js';
import { synthesizerProblems } from '../../synth/types.js';

/**
 * A wholly artificial dataset (the paper's Table 7): `perSubgroup` accepted faces of every emotion × subgroup
 * for training and `testPerSubgroup` more for its own balanced test part, generated and checked as
 * balance-with-synthesis fills its holes, in the format asked for.
 */
export const synthesizeStage = defineStage<SynthesizeEntry>({
  type: 'synthesize',
  version: '1',
  schema: 'synthesize.schema.json',
  produces: 'manifest',
  accepts: { models: ['model'] },
  checkEntry: (params) => [...ageBucketProblems(params), ...synthesizerProblems(params)],
  modelFiles: (params) => checkModelFiles(params.checks),
  async run(ctx) {
    const p = ctx.params;
    const source = p.source ?? ctx.stage;
    const places = p.testPerSubgroup + p.perSubgroup;
    const holes: Hole[] = EMOTIONS.flatMap((emotion) =>
      SUBGROUPS.flatMap((subgroup) =>
        Array.from({ length: places }, (_, slot) => ({ source, emotion, subgroup, slot })),
      ),
    );
    ctx.log(
      `${source}: ${holes.length} faces to generate (${places} per emotion × subgroup, the first ${p.testPerSubgroup} of each for test)`,
    );
    const { fillHoles } = await import('../../synth/fill.js');
    const { outcomes, tally } = await fillHoles(ctx, holes, () => p.format);
    const records: ManifestRecord[] = outcomes.flatMap((o) =>
      o.record ? [{ ...o.record, split: o.hole.slot < p.testPerSubgroup ? 'test' : 'train' }] : [],
    );
    for (const r of records) ctx.output.reference(r.blob);
    writeManifest(ctx.output, records);

    const { acceptanceReport, acceptanceTable, renderGeneratedSheet } = await import('../../report/synthesis.js');
    const acceptance = acceptanceReport(outcomes, p);
    const count = (split: string, emotion: string) =>
      records.filter((r) => r.split === split && r.label === emotion).length;
    const summary = {
      source,
      perSubgroup: p.perSubgroup,
      testPerSubgroup: p.testPerSubgroup,
      wanted: {
        train: EMOTIONS.length * SUBGROUPS.length * p.perSubgroup,
        test: EMOTIONS.length * SUBGROUPS.length * p.testPerSubgroup,
      },
      images: {
        train: records.filter((r) => r.split === 'train').length,
        test: records.filter((r) => r.split === 'test').length,
      },
      perEmotion: Object.fromEntries(EMOTIONS.map((e) => [e, { train: count('train', e), test: count('test', e) }])),
      open: acceptance.openHoles.length,
    };
    ctx.output.writeJson('synthesis.json', summary);
    ctx.output.writeJson('acceptance.json', acceptance);
    const lines = [
      `# synthesize: ${source}`,
      '',
      `${summary.images.train} training and ${summary.images.test} test faces of ${summary.wanted.train} and ${summary.wanted.test} wanted; ${summary.open} places open.`,
      '',
      '| emotion | train | test |',
      '|---|---:|---:|',
      ...EMOTIONS.map((e) => `| ${e} | ${summary.perEmotion[e]!.train} | ${summary.perEmotion[e]!.test} |`),
      '',
      ...acceptanceTable(acceptance.perEmotion),
    ];
    ctx.output.writeFile('synthesis.md', lines.join('\n') + '\n');
    ctx.output.writeFile(
      'contact-sheet.png',
      await renderGeneratedSheet(
        records,
        p.sheetPerEmotion,
        (blob) => ctx.readBlob(blob),
        `Artificial dataset ${source}`,
      ),
    );
    ctx.output.setMetrics({ train: summary.images.train, test: summary.images.test, open: summary.open, ...tally });
  },
});
