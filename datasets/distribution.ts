import { EMOTIONS, SUBGROUPS } from './vocabulary.js';
import type { ManifestRecord } from './record.js';

type SplitCounts = Record<string, number>;

export interface EmotionDistribution {
  total: number;
  splits: SplitCounts;
  /** Images without attributes (agr flagged them): split, but in no subgroup. */
  withoutSubgroup: number;
  /** Subgroups with no image at all. */
  emptySubgroups: number;
  /** Every one of the 40 subgroups, empty ones included, with its count per split. */
  subgroups: Record<string, SplitCounts>;
}

export interface Distribution {
  splits: Record<string, number>;
  images: number;
  /** source → emotion → counts. */
  sources: Record<string, Record<string, EmotionDistribution>>;
}

/** distribution.json: counts per source × emotion × subgroup, per split, with every empty cell listed as 0. */
export function distribution(
  records: readonly ManifestRecord[],
  splits: readonly string[],
  fractions: Record<string, number>,
): Distribution {
  const zero = (): SplitCounts => Object.fromEntries(splits.map((s) => [s, 0]));
  const sources: Distribution['sources'] = {};
  for (const source of [...new Set(records.map((r) => r.source))].sort()) {
    const ofSource = records.filter((r) => r.source === source);
    sources[source] = Object.fromEntries(
      EMOTIONS.map((emotion) => {
        const ofEmotion = ofSource.filter((r) => r.label === emotion);
        const cell: EmotionDistribution = {
          total: ofEmotion.length,
          splits: zero(),
          withoutSubgroup: 0,
          emptySubgroups: 0,
          subgroups: Object.fromEntries(SUBGROUPS.map((s) => [s, zero()])),
        };
        for (const r of ofEmotion) {
          const split = r.split as string;
          cell.splits[split]!++;
          if (r.subgroup) cell.subgroups[r.subgroup]![split]!++;
          else cell.withoutSubgroup++;
        }
        cell.emptySubgroups = SUBGROUPS.filter((s) => Object.values(cell.subgroups[s]!).every((n) => n === 0)).length;
        return [emotion, cell];
      }),
    );
  }
  return { splits: fractions, images: records.length, sources };
}

/** distribution.md: per source, each emotion's split sizes and empty subgroups, the table a reader scans first. */
export function distributionMarkdown(d: Distribution): string {
  const splits = Object.keys(d.splits);
  const lines = [
    '# distribute',
    '',
    `${d.images} images, split ${splits.map((s) => `${s} ${Math.round(100 * d.splits[s]!)} %`).join(' / ')} within each source × emotion.`,
  ];
  for (const [source, emotions] of Object.entries(d.sources)) {
    lines.push(
      '',
      `## ${source}`,
      '',
      `| emotion | images | ${splits.join(' | ')} | empty subgroups (of ${SUBGROUPS.length}) | no subgroup |`,
      `|---|---:|${splits.map(() => '---:').join('|')}|---:|---:|`,
    );
    for (const [emotion, cell] of Object.entries(emotions)) {
      lines.push(
        `| ${emotion} | ${cell.total} | ${splits.map((s) => cell.splits[s]).join(' | ')} | ${cell.emptySubgroups} | ${cell.withoutSubgroup} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
