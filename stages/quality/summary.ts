import type { StageContext } from '../../engine/stage.js';
import type { Cluster, Finding } from './findings.js';

/** What quality.json holds, as far as its summary and sheets read it. */
export interface QualityReport {
  images: number;
  sources: Record<string, Record<string, number>>;
  duplicates: { pairs: number; crossSourcePairs: number; perSourcePair: Record<string, number> };
  clusters: Cluster[];
  conflicts: Array<{ cluster: string; labels: string[]; members: Cluster['members'] }>;
  outliers: Finding[];
}

const KINDS = ['noFace', 'severalFaces', 'blank', 'exposure', 'outlier'] as const;

export function qualityMarkdown(report: QualityReport): string {
  const lines = [
    '# Data quality',
    '',
    `${report.images} images; ${report.duplicates.pairs} near-duplicate pairs (${report.duplicates.crossSourcePairs} ` +
      `across sources) in ${report.clusters.length} clusters; ${report.conflicts.length} label conflicts.`,
    '',
    `| source | images | in clusters | ${KINDS.join(' | ')} | dropped |`,
    `| --- | ---: | ---: | ${KINDS.map(() => '---:').join(' | ')} | ---: |`,
    ...Object.entries(report.sources).map(
      ([source, c]) =>
        `| ${source} | ${c.images} | ${c.inClusters} | ${KINDS.map((k) => c[k] ?? 0).join(' | ')} | ${c.dropped} |`,
    ),
    '',
    '| source pair | near-duplicate pairs |',
    '| --- | ---: |',
    ...Object.entries(report.duplicates.perSourcePair).map(([pair, n]) => `| ${pair} | ${n} |`),
    '',
  ];
  return lines.join('\n');
}

/**
 * Contact sheets for a person to look at: the largest clusters, the label conflicts and the flagged images
 * of each kind, `size` rows (or images) each.
 */
export async function qualitySheets(
  ctx: StageContext<unknown>,
  report: QualityReport,
  size: number,
): Promise<Array<[string, Buffer]>> {
  const { renderContactSheet } = await import('../../report/contact-sheet.js');
  const item = (m: Cluster['members'][number], second: string) => ({
    image: ctx.readBlob(m.blob),
    caption: [`${m.source}`, second] as [string, string],
  });
  const clusterRows = (clusters: readonly Cluster[]) =>
    clusters.slice(0, size).map((c, i) => ({
      title: `#${i + 1} (${c.members.length})`,
      items: c.members.slice(0, size).map((m) => item(m, m.label)),
    }));
  const conflicts = report.clusters.filter((c) => c.labels.length > 1);
  const sheets: Array<[string, Buffer]> = [
    [
      'sheets/duplicates.png',
      await renderContactSheet(
        clusterRows(report.clusters),
        'Largest near-duplicate clusters',
        `${report.duplicates.pairs} pairs in ${report.clusters.length} clusters; caption: source, label`,
      ),
    ],
    [
      'sheets/conflicts.png',
      await renderContactSheet(
        clusterRows(conflicts),
        'Label conflicts',
        `${conflicts.length} clusters of near-duplicates with different labels`,
      ),
    ],
    [
      'sheets/outliers.png',
      await renderContactSheet(
        KINDS.map((kind) => ({
          title: kind,
          items: report.outliers
            .filter((f) => f.kind === kind)
            .slice(0, size)
            .map((f) => item(f, `${f.label} · ${f.value}`)),
        })),
        'Flagged images',
        'caption: source, label · measured value',
      ),
    ],
  ];
  return sheets;
}
