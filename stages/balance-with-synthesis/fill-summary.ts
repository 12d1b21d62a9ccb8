import type { BalanceParams } from './params.js';
import type { HoleOutcome } from '../../synth/fill.js';
import { acceptanceReport, acceptanceTable, type BalanceDeficits } from '../../report/synthesis.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import type { Selection } from '../../synth/select.js';

const zeros = (): Record<string, number> => Object.fromEntries(EMOTIONS.map((e) => [e, 0]));

/**
 * deficits.json (the paper's Table 5: images generated per source × emotion, and what stayed open),
 * acceptance.json (per emotion: attempts, accepted, rejection reasons — the automated "effectiveness"),
 * balance.md, and the numbers for the stage record. Facts only, so the same run gives the same bytes.
 */
export function buildBalanceReport(
  sources: readonly string[],
  selection: Selection,
  outcomes: readonly HoleOutcome[],
  p: BalanceParams,
) {
  const deficits: BalanceDeficits = {
    perSubgroup: p.perSubgroup,
    cellsPerSource: EMOTIONS.length * 40,
    sources: Object.fromEntries(
      sources.map((source) => {
        const mine = outcomes.filter((o) => o.hole.source === source);
        const holes = zeros();
        const filled = zeros();
        for (const o of mine) {
          holes[o.hole.emotion]!++;
          if (o.record) filled[o.hole.emotion]!++;
        }
        return [
          source,
          {
            real: selection.picked.get(source)?.length ?? 0,
            holes,
            filled,
            totalHoles: mine.length,
            totalFilled: mine.filter((o) => o.record).length,
            open: mine
              .filter((o) => !o.record)
              .map((o) => ({ emotion: o.hole.emotion, subgroup: o.hole.subgroup, slot: o.hole.slot })),
          },
        ];
      }),
    ),
    total: { holes: outcomes.length, filled: outcomes.filter((o) => o.record).length },
  };
  const acceptance = acceptanceReport(outcomes, p);
  const perEmotion = acceptance.perEmotion;
  const lines = [
    '# balance-with-synthesis',
    '',
    `${p.perSubgroup} images per emotion × subgroup from each source's ${p.split} split; holes filled by the ${p.synthesizer.type} synthesizer.`,
    '',
  ];
  lines.push(
    `| source | real | ${EMOTIONS.join(' | ')} | generated | open |`,
    `|---|---:|${EMOTIONS.map(() => '---:').join('|')}|---:|---:|`,
  );
  for (const source of sources) {
    const d = deficits.sources[source]!;
    lines.push(
      `| ${source} | ${d.real} | ${EMOTIONS.map((e) => d.filled[e]).join(' | ')} | ${d.totalFilled} | ${d.totalHoles - d.totalFilled} |`,
    );
  }
  lines.push('', ...acceptanceTable(perEmotion));
  const metrics = {
    holes: deficits.total.holes,
    filled: deficits.total.filled,
    open: deficits.total.holes - deficits.total.filled,
  };
  return { deficits, acceptance, markdown: lines.join('\n') + '\n', metrics };
}
