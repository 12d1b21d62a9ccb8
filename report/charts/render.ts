import sharp from 'sharp';
import * as vega from 'vega';
import { logger, parse, resetSVGDefIds, View, Warn } from 'vega';
import { compile, type Config, type TopLevelSpec } from 'vega-lite';

/**
 * A generic family rather than a named face: librsvg asks fontconfig, which resolves it to whatever sans face the
 * machine has (DejaVu Sans on Debian), so a chart never renders with missing glyphs.
 */
export const CHART_FONT = 'sans-serif';

/** Vega exports its text measurer at run time, but its type declarations leave it out. */
const { textMetrics } = vega as unknown as { textMetrics: { canvas(use: boolean): void } };

/** Merged under every chart's own `config`, which wins where both set a field. */
const BASE_CONFIG: Config = { font: CHART_FONT, background: 'white' };

export interface ChartOptions {
  /** PNG pixels per SVG unit; 2 keeps axis labels legible when the PNG is viewed at full size. */
  scale?: number;
}

export interface RenderedChart {
  svg: string;
  png: Buffer;
  /** What Vega-Lite and Vega warned about while compiling and laying out; they would print it to the console. */
  warnings: string[];
}

/** Compiles a Vega-Lite spec, lays it out headless and rasterises the SVG. Inline data only: nothing is fetched. */
export async function renderChart(spec: TopLevelSpec, options: ChartOptions = {}): Promise<RenderedChart> {
  const scale = options.scale ?? 2;
  const warnings: string[] = [];
  // The engine never writes to the console: Vega's messages are kept for the caller instead.
  const log = logger(Warn, undefined, (_method, _level, args) => warnings.push(args.map(String).join(' ')));

  // With the optional `canvas` package installed Vega measures text with the machine's fonts, which moves labels
  // from one machine to the next; the fixed estimate keeps the layout, and so the SVG, the same everywhere.
  textMetrics.canvas(false);
  const { spec: vgSpec } = compile(spec, { config: BASE_CONFIG, logger: log });
  const view = new View(parse(vgSpec), { renderer: 'none', logger: log, logLevel: Warn });
  try {
    // Clip-path and gradient ids come from process-wide counters; reset, the same chart gives the same SVG.
    resetSVGDefIds();
    const svg = await view.toSVG();
    // librsvg reads SVG units at 72 dpi, so the density scales the vector drawing itself, not its pixels.
    const png = await sharp(Buffer.from(svg), { density: 72 * scale })
      // The chart paints its own white background, so the alpha channel would only add bytes.
      .flatten({ background: '#ffffff' })
      .png()
      .toBuffer();
    return { svg, png, warnings };
  } finally {
    view.finalize();
  }
}
