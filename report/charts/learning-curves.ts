import type { TopLevelSpec } from 'vega-lite';
import type { EpochScores } from '../../ml/training/fit.js';
import { renderChart } from './render.js';

/** One view of an hconcat, named through the public top-level type (Vega-Lite exports no stable name for it). */
type ConcatPanel = Extract<TopLevelSpec, { hconcat: unknown }>['hconcat'][number];
type Metric = 'accuracy' | 'loss';

/** Fixed, so train and validation keep their colours in every run's chart (Tableau blue and orange). */
const SPLIT_COLOURS = { train: '#4c78a8', validation: '#f58518' };
const BEST_COLOUR = '#666666';
/** Beyond this many epochs the per-epoch dots merge into a thick band, and the line alone reads better. */
const MAX_DOTTED_EPOCHS = 40;

/**
 * The earliest epoch with the highest validation accuracy: the one a restore-best-weights checkpoint keeps, since a
 * later epoch that only ties it is no improvement.
 */
function bestEpoch(history: readonly EpochScores[]): EpochScores {
  const first = history[0];
  if (!first) throw new Error('learning curves need at least one epoch: the history is empty');
  return history.reduce((best, r) => (r.valAccuracy > best.valAccuracy ? r : best), first);
}

/** Two panels side by side, accuracy then loss, each with a train and a validation line and the best epoch marked. */
export function learningCurvesSpec(history: readonly EpochScores[]): TopLevelSpec {
  const best = bestEpoch(history);
  // Long form, one row per point, so each panel is one line mark coloured by split.
  const rows = history.flatMap((r) => [
    { epoch: r.epoch, split: 'train', accuracy: r.accuracy, loss: r.loss },
    { epoch: r.epoch, split: 'validation', accuracy: r.valAccuracy, loss: r.valLoss },
  ]);

  const panel = (metric: Metric, title: string, atBest: number): ConcatPanel => {
    const y = {
      field: metric,
      type: 'quantitative',
      // Accuracy on a fixed 0..1 axis so runs can be compared by eye; loss has no natural top.
      scale: metric === 'accuracy' ? { domain: [0, 1] } : { zero: true },
      // Keeps the top label inside the plot, so both panels' titles sit at the same height.
      axis: { labelFlush: true },
    } as const;
    return {
      // Formatted here rather than by Vega, so the subtitle reads the same in any locale.
      title: { text: title, subtitle: `validation ${atBest.toFixed(3)} at best epoch ${best.epoch}` },
      width: 320,
      height: 220,
      encoding: {
        // Epochs are whole numbers: no 2.5 ticks on a short run, and the axis starts at the first epoch, not 0.
        x: {
          field: 'epoch',
          type: 'quantitative',
          axis: { tickMinStep: 1, format: 'd' },
          scale: { zero: false, nice: false },
        },
      },
      layer: [
        {
          data: { values: rows },
          // Dots as well as lines: a one-epoch run would otherwise draw nothing.
          mark: { type: 'line', point: history.length <= MAX_DOTTED_EPOCHS ? { size: 16 } : false },
          encoding: {
            y,
            color: {
              field: 'split',
              type: 'nominal',
              title: null,
              scale: { domain: Object.keys(SPLIT_COLOURS), range: Object.values(SPLIT_COLOURS) },
            },
          },
        },
        {
          data: { values: [{ epoch: best.epoch, [metric]: atBest }] },
          layer: [
            { mark: { type: 'rule', strokeDash: [4, 3], color: BEST_COLOUR } },
            { mark: { type: 'point', size: 110, strokeWidth: 1.5, color: BEST_COLOUR }, encoding: { y } },
          ],
        },
      ],
    };
  };

  return {
    hconcat: [panel('accuracy', 'Accuracy', best.valAccuracy), panel('loss', 'Loss', best.valLoss)],
    resolve: { scale: { color: 'shared' } },
  };
}

/** The chart the `train` stage writes as its learning-curves PNG; the SVG is kept for reports that embed it. */
export async function renderLearningCurves(history: EpochScores[]): Promise<{ png: Buffer; svg: string }> {
  const { png, svg } = await renderChart(learningCurvesSpec(history));
  return { png, svg };
}
