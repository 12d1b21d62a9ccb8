import type { BalanceParams, HoleOutcome } from './stage.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import type { ManifestRecord } from '../merge/stage.js';
import { renderContactSheet, type SheetRow } from '../../report/contact-sheet.js';
import type { Selection } from '../../synth/select.js';

const zeros = (): Record<string, number> => Object.fromEntries(EMOTIONS.map((e) => [e, 0]));
const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

/**
 * deficits.json (the paper's Table 5: images generated per source × emotion, and what stayed open),
 * acceptance.json (per emotion: attempts, accepted, rejection reasons — the automated "effectiveness"),
 * balance.md, and the numbers for the stage record. Facts only, so the same run gives the same bytes.
 */
export function buildBalanceReport(sources: readonly string[], selection: Selection, outcomes: readonly HoleOutcome[], p: BalanceParams) {
  const deficits = {
    perSubgroup: p.perSubgroup,
    cellsPerSource: EMOTIONS.length * 40,
    sources: Object.fromEntries(sources.map((source) => {
      const mine = outcomes.filter((o) => o.hole.source === source);
      const holes = zeros();
      const filled = zeros();
      for (const o of mine) {
        holes[o.hole.emotion]!++;
        if (o.record) filled[o.hole.emotion]!++;
      }
      return [source, {
        real: selection.picked.get(source)?.length ?? 0,
        holes, filled,
        totalHoles: mine.length,
        totalFilled: mine.filter((o) => o.record).length,
        open: mine.filter((o) => !o.record).map((o) => ({ emotion: o.hole.emotion, subgroup: o.hole.subgroup, slot: o.hole.slot })),
      }];
    })),
    total: { holes: outcomes.length, filled: outcomes.filter((o) => o.record).length },
  };
  const acceptance = acceptanceReport(outcomes, p);
  const perEmotion = acceptance.perEmotion;
  const lines = ['# balance-with-synthesis', '', `${p.perSubgroup} images per emotion × subgroup from each source's ${p.split} split; holes filled by the ${p.synthesizer.type} synthesizer.`, ''];
  lines.push(`| source | real | ${EMOTIONS.join(' | ')} | generated | open |`, `|---|---:|${EMOTIONS.map(() => '---:').join('|')}|---:|---:|`);
  for (const source of sources) {
    const d = deficits.sources[source]!;
    lines.push(`| ${source} | ${d.real} | ${EMOTIONS.map((e) => d.filled[e]).join(' | ')} | ${d.totalFilled} | ${d.totalHoles - d.totalFilled} |`);
  }
  lines.push('', ...acceptanceTable(perEmotion));
  const metrics = { holes: deficits.total.holes, filled: deficits.total.filled, open: deficits.total.holes - deficits.total.filled };
  return { deficits, acceptance, markdown: lines.join('\n') + '\n', metrics };
}

/**
 * acceptance.json: per emotion, attempts, accepted, the rate and the rejection reasons; every open hole with its
 * attempts.
 */
export function acceptanceReport(outcomes: readonly HoleOutcome[], p: Pick<BalanceParams, 'synthesizer' | 'maxAttempts' | 'checks'>) {
  const perEmotion = Object.fromEntries(EMOTIONS.map((emotion) => {
    const mine = outcomes.filter((o) => o.hole.emotion === emotion);
    const attempts = mine.flatMap((o) => o.attempts);
    const rejected: Record<string, number> = {};
    for (const a of attempts) {
      for (const r of a.rejections ?? []) rejected[r] = (rejected[r] ?? 0) + 1;
      if (a.error) rejected['generation failed'] = (rejected['generation failed'] ?? 0) + 1;
    }
    const accepted = mine.filter((o) => o.record).length;
    return [emotion, { holes: mine.length, attempts: attempts.length, accepted, acceptanceRate: attempts.length ? Number((accepted / attempts.length).toFixed(4)) : null, rejected }];
  })) as Record<string, { holes: number; attempts: number; accepted: number; acceptanceRate: number | null; rejected: Record<string, number> }>;
  return {
    synthesizer: p.synthesizer.type,
    maxAttempts: p.maxAttempts,
    checks: p.checks,
    perEmotion,
    openHoles: outcomes.filter((o) => !o.record).map((o) => ({ ...o.hole, attempts: o.attempts })),
  };
}

/** The acceptance table of balance.md and synthesis.md. */
export function acceptanceTable(perEmotion: ReturnType<typeof acceptanceReport>['perEmotion']): string[] {
  const lines = ['| emotion | attempts | accepted | acceptance | rejected for |', '|---|---:|---:|---:|---|'];
  for (const [emotion, e] of Object.entries(perEmotion)) {
    lines.push(`| ${emotion} | ${e.attempts} | ${e.accepted} | ${e.acceptanceRate === null ? '–' : pct(e.acceptanceRate)} | ${Object.entries(e.rejected).map(([k, v]) => `${k} ${v}`).join(', ') || '–'} |`);
  }
  return lines;
}

/** Up to `perEmotion` generated images per emotion, captioned with the subgroup they were asked for. */
export function renderGeneratedSheet(generated: readonly ManifestRecord[], perEmotion: number, read: (blob: string) => Uint8Array, title = 'Generated evaluator images'): Promise<Buffer> {
  // Taken in turn from each source, so one source does not fill every row.
  const interleaved = (of: ManifestRecord[]): ManifestRecord[] => {
    const bySource = [...new Set(of.map((r) => r.source))].sort().map((source) => of.filter((r) => r.source === source));
    const longest = Math.max(0, ...bySource.map((list) => list.length));
    return Array.from({ length: longest }, (_, i) => bySource.flatMap((list) => (list[i] ? [list[i]!] : []))).flat();
  };
  const rows: SheetRow[] = EMOTIONS.map((emotion) => ({
    title: emotion,
    items: interleaved(generated.filter((r) => r.label === emotion)).slice(0, perEmotion).map((r) => ({
      image: read(r.blob),
      caption: [`${r.gender} ${r.age}`, `${r.ethnicity} · ${r.source.slice(0, 9)}`] as [string, string],
    })),
  }));
  return renderContactSheet(rows, title, `${generated.length} accepted, as converted to each source's format`);
}
