import type { TopLevelSpec } from 'vega-lite';
import { ETHNICITIES, GENDERS } from '../../datasets/vocabulary.js';
import { AGE_BUCKETS } from '../../datasets/vocabulary.js';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { renderChart, type RenderedChart } from './render.js';

/** Images of one source per value of each attribute, e.g. `{ gender: { female: 120, male: 80 }, ... }`. */
export interface AttributeCounts {
  gender: Record<string, number>;
  age: Record<string, number>;
  ethnicity: Record<string, number>;
}

/** Images of one source with one emotion in one `gender-age-ethnicity` subgroup. */
export interface SubgroupCell {
  emotion: string;
  subgroup: string;
  count: number;
}

/** One view of an hconcat, named through the public top-level type (Vega-Lite exports no stable name for it). */
type ConcatPanel = Extract<TopLevelSpec, { hconcat: unknown }>['hconcat'][number];
type Attribute = keyof AttributeCounts;

/** Panels left to right, each with its values in vocabulary order, so every source's chart reads the same way. */
const ATTRIBUTES: ReadonlyArray<{ key: Attribute; title: string; values: readonly string[]; colour: string }> = [
  // Fixed Tableau colours per attribute: a panel keeps its colour from one source's chart to the next.
  { key: 'gender', title: 'Gender', values: GENDERS, colour: '#4c78a8' },
  { key: 'age', title: 'Age', values: AGE_BUCKETS, colour: '#f58518' },
  { key: 'ethnicity', title: 'Ethnicity', values: ETHNICITIES, colour: '#54a24b' },
];
/** Above this share the count label would rise into the panel title, so it is written inside the bar instead. */
const LABEL_INSIDE_FROM = 88;

/** Empty cells are light red with a dark red 0: no shade of the blue count scale comes near either. */
const EMPTY_FILL = '#f6c3bd';
const EMPTY_TEXT = '#a50f15';
/** Heatmap cell size in SVG units; a 4-character label at CELL_FONT_SIZE fits inside the width. */
const CELL_WIDTH = 26;
const CELL_HEIGHT = 20;
const CELL_FONT_SIZE = 9;

/** The 40 subgroups `gender-age-ethnicity`, ordered by gender, then age, then ethnicity. */
export function subgroupNames(): string[] {
  return GENDERS.flatMap((g) => AGE_BUCKETS.flatMap((a) => ETHNICITIES.map((e) => `${g}-${a}-${e}`)));
}

/** Thousands separated the same way in every locale, so the SVG does not depend on the machine. */
function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * At most four characters (`999`, `9.9k`, `999k`, `9.9M`), so every label fits its cell: a source with
 * 40,000 happy faces would otherwise spill its counts over the neighbouring cells.
 */
function compactCount(n: number): string {
  const scaled = (value: number, unit: string) => (value < 9.95 ? value.toFixed(1) : String(Math.round(value))) + unit;
  if (n < 1000) return String(n);
  if (n < 999_500) return scaled(n / 1000, 'k');
  return scaled(n / 1_000_000, 'M');
}

function checkCount(count: number, what: string): void {
  if (!Number.isInteger(count) || count < 0) throw new Error(`${what}: the count ${count} is not a whole number ≥ 0`);
}

/**
 * Three bar panels side by side, gender, age and ethnicity: each value's share of the source's images, and its
 * count.
 */
export function attributeSharesSpec(source: string, counts: AttributeCounts): TopLevelSpec {
  const panel = ({ key, title, values, colour }: (typeof ATTRIBUTES)[number]): ConcatPanel => {
    const given = counts[key];
    // A value outside the vocabulary would be silently missing from the chart while still counting in the shares.
    const unknown = Object.keys(given).filter((v) => !values.includes(v));
    if (unknown.length > 0)
      throw new Error(`${source}: unknown ${key} ${unknown.join(', ')} (expected ${values.join(', ')})`);
    // Every value gets a row, so an absent one shows as a zero bar rather than vanishing from the axis.
    const rows = values.map((value) => {
      const count = given[value] ?? 0;
      checkCount(count, `${source}: ${key} ${value}`);
      return { value, count };
    });
    const total = rows.reduce((sum, r) => sum + r.count, 0);
    const data = rows.map((r) => ({
      ...r,
      // A source with no counts at all draws zero bars, not NaN ones.
      share: total === 0 ? 0 : (100 * r.count) / total,
      label: formatCount(r.count),
    }));
    const label = { text: { field: 'label', type: 'nominal' } } as const;
    return {
      title,
      data: { values: data },
      width: { step: 44 },
      height: 200,
      encoding: {
        x: { field: 'value', type: 'nominal', sort: [...values], title: null, axis: { labelAngle: 0 } },
        // Fixed at 0..100 so sources can be compared panel by panel, whatever their largest share.
        y: {
          field: 'share',
          type: 'quantitative',
          scale: { domain: [0, 100] },
          title: '% of images',
          axis: { values: [0, 20, 40, 60, 80, 100] },
        },
      },
      layer: [
        { mark: { type: 'bar', color: colour } },
        {
          transform: [{ filter: `datum.share < ${LABEL_INSIDE_FROM}` }],
          mark: { type: 'text', baseline: 'bottom', dy: -3, fontSize: 11 },
          encoding: label,
        },
        {
          transform: [{ filter: `datum.share >= ${LABEL_INSIDE_FROM}` }],
          mark: { type: 'text', baseline: 'top', dy: 4, fontSize: 11, color: 'white' },
          encoding: label,
        },
      ],
    };
  };
  return {
    title: { text: `${source}: gender, age and ethnicity`, anchor: 'start', fontSize: 15 },
    hconcat: ATTRIBUTES.map(panel),
    spacing: 28,
  };
}

/** The attribute-shares chart of one source, as the `distribute` stage writes it. */
export function renderAttributeShares(source: string, counts: AttributeCounts): Promise<RenderedChart> {
  return renderChart(attributeSharesSpec(source, counts));
}

/**
 * Emotions down, the 40 subgroups across, each cell shaded by its image count with the count written in it;
 * empty cells are red, since they are what the chart is for: the combinations a source has no faces of.
 */
export function subgroupHeatmapSpec(source: string, cells: readonly SubgroupCell[]): TopLevelSpec {
  const subgroups = subgroupNames();
  const emotions: readonly string[] = EMOTIONS;
  const given = new Map<string, number>();
  for (const { emotion, subgroup, count } of cells) {
    // An unknown name would add a 41st column or an 8th row; a repeat would make one of its counts vanish.
    if (!emotions.includes(emotion)) throw new Error(`${source}: unknown emotion ${emotion}`);
    if (!subgroups.includes(subgroup)) throw new Error(`${source}: unknown subgroup ${subgroup}`);
    const key = `${emotion} ${subgroup}`;
    if (given.has(key)) throw new Error(`${source}: ${emotion} × ${subgroup} is given twice`);
    checkCount(count, `${source}: ${emotion} × ${subgroup}`);
    given.set(key, count);
  }
  // All 280 cells, in a fixed order whatever order the caller gave: missing ones are empty.
  const rows = emotions.flatMap((emotion) =>
    subgroups.map((subgroup) => {
      const count = given.get(`${emotion} ${subgroup}`) ?? 0;
      return { emotion, subgroup, count, label: compactCount(count) };
    }),
  );
  const empty = rows.filter((r) => r.count === 0).length;
  // At least 1, so a source with no images at all still has a valid colour domain.
  const max = Math.max(1, ...rows.map((r) => r.count));
  // Beyond this count a cell is dark enough for white text (the sqrt scale puts it at ~55 % of the ramp).
  const darkFrom = 0.3 * max;

  // One header per gender and age, over the middle of its five columns, and a rule where each begins: the axis
  // then only has to name the ethnicity, and short labels keep the chart compact (Vega's text estimate, which
  // keeps the layout the same on every machine, reserves far more room under long angled labels than they use).
  const groups = GENDERS.flatMap((gender) => AGE_BUCKETS.map((age) => ({ gender, age })));
  const headers = groups.map(({ gender, age }) => ({
    subgroup: `${gender}-${age}-${ETHNICITIES[2]}`,
    header: `${gender} · ${age}`,
  }));
  const starts = groups.slice(1).map(({ gender, age }) => ({
    subgroup: `${gender}-${age}-${ETHNICITIES[0]}`,
    // Thicker between the genders, so the two halves of the chart read as such.
    width: age === AGE_BUCKETS[0] ? 2.5 : 1.2,
  }));
  // On the cell layers only: the rules span the full height, and the headers sit above the rows.
  const y = {
    field: 'emotion',
    type: 'nominal' as const,
    sort: [...emotions],
    title: null,
    axis: { labelFontSize: 11, ticks: false, domain: false },
  };

  return {
    title: {
      text: `${source}: images per emotion × subgroup`,
      subtitle: `${empty} of ${rows.length} cells are empty (red)`,
      anchor: 'start',
      fontSize: 15,
      subtitleFontSize: 12,
      offset: 8,
    },
    data: { values: rows },
    width: { step: CELL_WIDTH },
    height: { step: CELL_HEIGHT },
    encoding: {
      x: {
        field: 'subgroup',
        type: 'nominal',
        sort: subgroups,
        title: null,
        axis: {
          labelExpr: 'split(datum.value, "-")[2]',
          labelAngle: -50,
          labelFontSize: 10,
          labelPadding: 4,
          ticks: false,
          domain: false,
        },
      },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          y,
          color: {
            condition: { test: 'datum.count === 0', value: EMPTY_FILL },
            field: 'count',
            type: 'quantitative',
            title: 'images',
            // Square root: FER sources are skewed (happy outnumbers disgust many times over), and on a linear
            // ramp every cell but the largest would be the same pale blue.
            scale: { type: 'sqrt', scheme: 'blues', domain: [0, max] },
            legend: { gradientLength: CELL_HEIGHT * emotions.length, format: ',d' },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: CELL_FONT_SIZE },
        encoding: {
          y,
          text: { field: 'label', type: 'nominal' },
          color: {
            condition: [
              { test: 'datum.count === 0', value: EMPTY_TEXT },
              { test: `datum.count > ${darkFrom}`, value: 'white' },
            ],
            value: '#222222',
          },
        },
      },
      {
        data: { values: starts },
        mark: { type: 'rule', color: '#555555' },
        encoding: {
          x: { field: 'subgroup', type: 'nominal', sort: subgroups, bandPosition: 0 },
          strokeWidth: { field: 'width', type: 'quantitative', scale: null },
        },
      },
      {
        data: { values: headers },
        mark: { type: 'text', fontSize: 10, fontWeight: 'bold', baseline: 'bottom', color: '#333333' },
        encoding: { text: { field: 'header', type: 'nominal' }, y: { value: -4 } },
      },
    ],
    config: { view: { stroke: null } },
  };
}

/** The emotion × subgroup heatmap of one source, as the `distribute` stage writes it. */
export function renderSubgroupHeatmap(source: string, cells: readonly SubgroupCell[]): Promise<RenderedChart> {
  return renderChart(subgroupHeatmapSpec(source, cells));
}
