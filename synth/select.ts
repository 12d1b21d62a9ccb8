import { SUBGROUPS } from '../datasets/vocabulary.js';
import { EMOTIONS, type Emotion } from '../datasets/vocabulary.js';
import type { ManifestRecord } from '../datasets/record.js';
import { shuffle, type Rng } from '../lib/random.js';

/** How sure agr was of an image's subgroup: the product of its three attributes' scores (annotated: 1). */
export function subgroupConfidence(record: ManifestRecord): number {
  const scores = record.attributes?.scores;
  if (!scores) return 1;
  const of = (table: Record<string, number> | undefined, key: string | undefined) =>
    table && key && table[key] !== undefined ? (table[key] as number) : 1;
  return of(scores.gender, record.gender) * of(scores.ethnicity, record.ethnicity) * of(scores.age, record.age);
}

export interface Hole {
  source: string;
  emotion: Emotion;
  subgroup: string;
  /** 0 … perSubgroup − 1: which of the cell's places this is. */
  slot: number;
}

export interface Selection {
  /** Per source: the picked real images, in cell order. */
  picked: Map<string, ManifestRecord[]>;
  holes: Hole[];
}

/**
 * Picks `perSubgroup` images of each emotion × subgroup from each source's `split` part, the most confident
 * first (a seeded shuffle breaks ties), and lists the places left empty.
 */
export function selectEvaluator(
  records: readonly ManifestRecord[],
  sources: readonly string[],
  split: string,
  perSubgroup: number,
  random: (label: string) => Rng,
): Selection {
  const picked = new Map<string, ManifestRecord[]>();
  const holes: Hole[] = [];
  for (const source of sources) {
    const mine: ManifestRecord[] = [];
    const pool = records.filter((r) => r.source === source && r.split === split && r.subgroup);
    for (const emotion of EMOTIONS) {
      for (const subgroup of SUBGROUPS) {
        const cell = pool
          .filter((r) => r.label === emotion && r.subgroup === subgroup)
          .sort((a, b) => (a.blob < b.blob ? -1 : 1));
        const ranked = shuffle(random(`${source} ${emotion} ${subgroup}`), cell)
          .map((r, order) => ({ r, order, confidence: subgroupConfidence(r) }))
          .sort((a, b) => b.confidence - a.confidence || a.order - b.order)
          .map(({ r }) => r);
        const chosen = ranked.slice(0, perSubgroup);
        mine.push(...chosen);
        for (let slot = chosen.length; slot < perSubgroup; slot++) holes.push({ source, emotion, subgroup, slot });
      }
    }
    picked.set(source, mine);
  }
  return { picked, holes };
}
