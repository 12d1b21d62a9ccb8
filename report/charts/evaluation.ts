import type { TopLevelSpec } from 'vega-lite';
import { EMOTIONS } from '../../datasets/vocabulary.js';
import { renderChart, type RenderedChart } from './render.js';

/** Cross-evaluation accuracies: every trained model tested on every test set (the paper's Table 10). */
export interface AccuracyMatrix {
  models: string[];
  testSets: string[];
  /** accuracy[model][testSet] in 0..1 */
  accuracy: Record<string, Record<string, number>>;
}

/**
 * Both heatmaps shade on Vega's `blues` ramp over a fixed 0..1 domain, never the data's own range: a cell then has
 * the same colour for the same accuracy or share in every run's report, so two reports can be compared by eye.
 */
const SCHEME = 'blues';
/**
 * From here up the ramp is dark enough that white text contrasts with it better than dark text does (WCAG contrast
 * of white and of #222222 cross near 0.67 on `blues`); below, the label stays dark.
 */
const WHITE_TEXT_FROM = 0.67;
const DARK_TEXT = '#222222';

/** Accuracy-matrix cell size in SVG units: wide enough for "100.0" at ACCURACY_FONT_SIZE. */
const ACCURACY_CELL_WIDTH = 60;
const ACCURACY_CELL_HEIGHT = 28;
const ACCURACY_FONT_SIZE = 11;
/** Test-set names longer than this many characters would run into their neighbours, so the labels are angled. */
const LEVEL_LABEL_CHARS = 8;

/** A confusion chart is one of many on a report page: a fixed plot area, whatever the number of classes. */
const CONFUSION_SIZE = 260;
const CONFUSION_FONT_SIZE = 10;
/** Shares below this are left blank: a "0" in most cells would bury the few confusions that matter. */
const CONFUSION_LABEL_FROM = 0.005;
/** Shares are computed in floating point; a row-normalised 1 may come out a hair above it. */
const SHARE_TOLERANCE = 1e-9;

/** A name given twice would merge two rows (or columns) of the band scale into one and hide a cell. */
function checkNames(names: readonly string[], what: string, context: string): void {
  if (names.length === 0) throw new Error(`${context}: there are no ${what}s`);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new Error(`${context}: the ${what} ${name} is given twice`);
    seen.add(name);
  }
}

/** A value outside 0..1, e.g. a percentage or a raw count, would saturate the fixed scale and print nonsense. */
function checkShare(value: number, what: string): void {
  if (!Number.isFinite(value) || value < 0 || value > 1 + SHARE_TOLERANCE) {
    throw new Error(`${what}: ${value} is not a share between 0 and 1`);
  }
}

/** The text colour of a cell label, dark on the pale end of the ramp and white on the dark end. */
function labelColour(field: string) {
  return { condition: { test: `datum.${field} >= ${WHITE_TEXT_FROM}`, value: 'white' }, value: DARK_TEXT };
}

/**
 * Trained models down (in the given order), test sets across, each cell shaded by the model's accuracy on the test
 * set and labelled with it in percent, one decimal.
 */
export function accuracyMatrixSpec(m: AccuracyMatrix): TopLevelSpec {
  const context = 'accuracy matrix';
  checkNames(m.models, 'model', context);
  checkNames(m.testSets, 'test set', context);
  // Only the listed models and test sets are drawn: an accuracy for anything else in `m.accuracy` is ignored.
  const cells = m.models.flatMap((model) =>
    m.testSets.map((testSet) => {
      const accuracy = m.accuracy[model]?.[testSet];
      // A missing cell would leave a hole that reads as "not evaluated" or, worse, shifts nothing and goes unseen.
      if (accuracy === undefined) throw new Error(`${context}: no accuracy for model ${model} on test set ${testSet}`);
      checkShare(accuracy, `${context}: model ${model} on test set ${testSet}`);
      // Formatted here rather than by Vega, so the labels read the same in any locale.
      return { model, testSet, accuracy, label: (100 * accuracy).toFixed(1) };
    }),
  );
  const longest = Math.max(...m.testSets.map((t) => t.length));
  const y = {
    field: 'model',
    type: 'nominal' as const,
    sort: [...m.models],
    title: 'trained model',
    axis: { labelFontSize: 11, ticks: false, domain: false },
  };

  return {
    title: { text: 'Accuracy: models × test sets', anchor: 'start', fontSize: 15 },
    data: { values: cells },
    width: { step: ACCURACY_CELL_WIDTH },
    height: { step: ACCURACY_CELL_HEIGHT },
    encoding: {
      x: {
        field: 'testSet',
        type: 'nominal',
        sort: [...m.testSets],
        title: 'test set',
        axis: { labelAngle: longest > LEVEL_LABEL_CHARS ? -35 : 0, labelFontSize: 11, ticks: false, domain: false },
      },
      y,
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'accuracy',
            type: 'quantitative',
            title: 'accuracy',
            scale: { scheme: SCHEME, domain: [0, 1] },
            legend: {
              gradientLength: Math.max(60, ACCURACY_CELL_HEIGHT * m.models.length),
              values: [0, 0.25, 0.5, 0.75, 1],
              format: '.0%',
            },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: ACCURACY_FONT_SIZE },
        encoding: { text: { field: 'label', type: 'nominal' }, color: labelColour('accuracy') },
      },
    ],
    config: { view: { stroke: null } },
  };
}

/** The accuracy matrix of the cross-evaluation report. */
export function renderAccuracyMatrix(m: AccuracyMatrix): Promise<RenderedChart> {
  return renderChart(accuracyMatrixSpec(m));
}

/**
 * True class down, predicted class across, each cell shaded by its share of the true class's images (row-normalised,
 * so a rare class reads as clearly as a common one) and labelled in whole percent.
 */
export function confusionSpec(
  title: string,
  normalised: number[][],
  classes: readonly string[] = EMOTIONS,
): TopLevelSpec {
  checkNames(classes, 'class', title);
  const n = classes.length;
  if (normalised.length !== n) {
    throw new Error(`${title}: the confusion matrix has ${normalised.length} rows, but there are ${n} classes`);
  }
  normalised.forEach((row, i) => {
    if (row.length !== n) {
      throw new Error(
        `${title}: the confusion matrix is not square: row ${i} (${classes[i]}) has ${row.length} columns, expected ${n}`,
      );
    }
  });
  const cells = classes.flatMap((actual, i) =>
    classes.map((predicted, j) => {
      const share = normalised[i]![j]!;
      checkShare(share, `${title}: true ${actual}, predicted ${predicted}`);
      return { actual, predicted, share, label: share >= CONFUSION_LABEL_FROM ? String(Math.round(100 * share)) : '' };
    }),
  );
  const sort = [...classes];

  return {
    title: { text: title, anchor: 'start', fontSize: 13 },
    data: { values: cells },
    width: CONFUSION_SIZE,
    height: CONFUSION_SIZE,
    encoding: {
      x: {
        field: 'predicted',
        type: 'nominal',
        sort,
        title: 'predicted',
        // Angled: at 260 / 7 units a column is narrower than "surprise" set level.
        axis: { labelAngle: -45, labelFontSize: 10, ticks: false, domain: false },
      },
      y: {
        field: 'actual',
        type: 'nominal',
        sort,
        title: 'true',
        axis: { labelFontSize: 10, ticks: false, domain: false },
      },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          // No legend: every visible share is written in its cell, and a legend per chart would crowd the page.
          color: {
            field: 'share',
            type: 'quantitative',
            title: 'share',
            scale: { scheme: SCHEME, domain: [0, 1] },
            legend: null,
          },
        },
      },
      {
        // Blank labels are dropped rather than drawn empty, so the SVG holds only the numbers a reader sees.
        transform: [{ filter: 'datum.label !== ""' }],
        mark: { type: 'text', fontSize: CONFUSION_FONT_SIZE },
        encoding: { text: { field: 'label', type: 'nominal' }, color: labelColour('share') },
      },
    ],
    config: { view: { stroke: null } },
  };
}

/** One confusion heatmap of the cross-evaluation report, e.g. one model on one test set. */
export function renderConfusion(
  title: string,
  normalised: number[][],
  classes?: readonly string[],
): Promise<RenderedChart> {
  return renderChart(confusionSpec(title, normalised, classes));
}
