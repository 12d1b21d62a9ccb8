import type { ManifestRecord } from '../datasets/record.js';
import { EMOTIONS } from '../datasets/vocabulary.js';
import type { HoleOutcome } from '../synth/fill.js';
import type { Hole } from '../synth/select.js';
import type { SynthesisSettings } from '../synth/types.js';
import { renderContactSheet, type SheetRow } from './contact-sheet.js';

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

/**
 * acceptance.json: per emotion, attempts, accepted, the rate and the rejection reasons; every open hole with its
 * attempts.
 */
export function acceptanceReport(
  outcomes: readonly HoleOutcome[],
  p: Pick<SynthesisSettings, 'synthesizer' | 'maxAttempts' | 'checks'>,
) {
  const perEmotion = Object.fromEntries(
    EMOTIONS.map((emotion) => {
      const mine = outcomes.filter((o) => o.hole.emotion === emotion);
      const attempts = mine.flatMap((o) => o.attempts);
      const rejected: Record<string, number> = {};
      for (const a of attempts) {
        for (const r of a.rejections ?? []) rejected[r] = (rejected[r] ?? 0) + 1;
        if (a.error) rejected['generation failed'] = (rejected['generation failed'] ?? 0) + 1;
      }
      const accepted = mine.filter((o) => o.record).length;
      return [
        emotion,
        {
          holes: mine.length,
          attempts: attempts.length,
          accepted,
          acceptanceRate: attempts.length ? Number((accepted / attempts.length).toFixed(4)) : null,
          rejected,
        },
      ];
    }),
  ) as Record<
    string,
    {
      holes: number;
      attempts: number;
      accepted: number;
      acceptanceRate: number | null;
      rejected: Record<string, number>;
    }
  >;
  return {
    synthesizer: p.synthesizer.type,
    maxAttempts: p.maxAttempts,
    checks: p.checks,
    perEmotion,
    openHoles: outcomes.filter((o) => !o.record).map((o) => ({ ...o.hole, attempts: o.attempts })),
  };
}

/** acceptance.json as balance-with-synthesis and synthesize write it and the report stage reads it. */
export type AcceptanceReport = ReturnType<typeof acceptanceReport>;

/** One source's row of deficits.json: holes and filled places per emotion, and the places left open. */
export interface SourceDeficit {
  real: number;
  holes: Record<string, number>;
  filled: Record<string, number>;
  totalHoles: number;
  totalFilled: number;
  open: Array<Pick<Hole, 'emotion' | 'subgroup' | 'slot'>>;
}

/** deficits.json (the paper's Table 5), written by balance-with-synthesis and read by the report stage. */
export interface BalanceDeficits {
  perSubgroup: number;
  cellsPerSource: number;
  sources: Record<string, SourceDeficit>;
  total: { holes: number; filled: number };
}

/** The acceptance table of balance.md and synthesis.md. */
export function acceptanceTable(perEmotion: AcceptanceReport['perEmotion']): string[] {
  const lines = ['| emotion | attempts | accepted | acceptance | rejected for |', '|---|---:|---:|---:|---|'];
  for (const [emotion, e] of Object.entries(perEmotion)) {
    lines.push(
      `| ${emotion} | ${e.attempts} | ${e.accepted} | ${e.acceptanceRate === null ? '–' : pct(e.acceptanceRate)} | ${
        Object.entries(e.rejected)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || '–'
      } |`,
    );
  }
  return lines;
}

/** Up to `perEmotion` generated images per emotion, captioned with the subgroup they were asked for. */
export function renderGeneratedSheet(
  generated: readonly ManifestRecord[],
  perEmotion: number,
  read: (blob: string) => Uint8Array,
  title = 'Generated evaluator images',
): Promise<Buffer> {
  // Taken in turn from each source, so one source does not fill every row.
  const interleaved = (of: ManifestRecord[]): ManifestRecord[] => {
    const bySource = [...new Set(of.map((r) => r.source))]
      .sort()
      .map((source) => of.filter((r) => r.source === source));
    const longest = Math.max(0, ...bySource.map((list) => list.length));
    return Array.from({ length: longest }, (_, i) => bySource.flatMap((list) => (list[i] ? [list[i]!] : []))).flat();
  };
  const rows: SheetRow[] = EMOTIONS.map((emotion) => ({
    title: emotion,
    items: interleaved(generated.filter((r) => r.label === emotion))
      .slice(0, perEmotion)
      .map((r) => ({
        image: read(r.blob),
        caption: [`${r.gender} ${r.age}`, `${r.ethnicity} · ${r.source.slice(0, 9)}`] as [string, string],
      })),
  }));
  return renderContactSheet(rows, title, `${generated.length} accepted, as converted to each source's format`);
}
