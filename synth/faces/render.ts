import sharp from 'sharp';
import { drawIdentity, drawPerson, type Expression, type Person } from './attributes.js';
import { drawExpression } from './expression.js';
import { faceSvg, neckSvg, rgb } from './face-svg.js';
import { uniform, type Rng } from '../../lib/random.js';
import { blurRgb, finish } from './pixels.js';
import type { Style } from './styles.js';

export interface RenderedFace {
  person: Person;
  /** Raw pixels, row-major, `channels` bytes per pixel. */
  pixels: Buffer;
  size: number;
  channels: 1 | 3;
}

/**
 * The SVG of one posed face on its style's background. Everything random comes from `rng`, in a fixed order.
 * `person` fixes who is drawn (a synthesizer asked for a subgroup); otherwise the style's population decides.
 */
export function sceneSvg(
  style: Style,
  size: number,
  rng: Rng,
  expression: Expression,
  person: Person = drawPerson(rng, expression),
): { svg: string; person: Person } {
  const identity = drawIdentity(rng, person);
  const shape = drawExpression(rng, expression);
  const background = style.background(rng);
  const clothes = rgb([uniform(rng, 20, 230), uniform(rng, 20, 230), uniform(rng, 20, 230)]);
  // Pose jitter: a face detector's crop is never exactly centred, level or the same size.
  const zoom = style.zoom * uniform(rng, 0.94, 1.06);
  const angle = uniform(rng, -7, 7);
  const dx = uniform(rng, -5, 5);
  const dy = uniform(rng, -5, 5);
  const body = `<ellipse cx="100" cy="${Math.round(100 + identity.halfHeight + 72)}" rx="${Math.round(identity.halfWidth * 2.1)}" ry="52" fill="${clothes}"/>`;
  const pose = `translate(${(100 + dx).toFixed(1)} ${(100 + dy).toFixed(1)}) rotate(${angle.toFixed(1)}) scale(${zoom.toFixed(3)}) translate(-100 -100)`;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 200 200">` +
    `${background}<g transform="${pose}">${neckSvg(identity)}${body}${faceSvg(identity, shape)}</g></svg>`;
  return { svg, person };
}

/** Rasterises one face and gives it its style's look (blur, contrast, lighting, colour cast, noise). */
export async function renderFace(
  style: Style,
  size: number,
  rng: Rng,
  expression: Expression,
  who?: Person,
): Promise<RenderedFace> {
  const { svg, person } = sceneSvg(style, size, rng, expression, who);
  const look = style.look(rng);
  const rgbPixels = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer();
  const sigma = look.blur * (size / style.size); // the blur is defined at the style's native size
  const source = sigma >= 0.3 ? blurRgb(rgbPixels, size, sigma) : rgbPixels;
  return { person, pixels: finish(source, size, style.channels, look, rng), size, channels: style.channels };
}

export function encodePng(face: Pick<RenderedFace, 'pixels' | 'size' | 'channels'>): Promise<Buffer> {
  const raster = sharp(face.pixels, { raw: { width: face.size, height: face.size, channels: face.channels } });
  // Without an explicit b-w colourspace sharp writes a one-channel raster as an RGB PNG.
  const coloured = face.channels === 1 ? raster.toColourspace('b-w') : raster;
  return coloured.png({ compressionLevel: 3 }).toBuffer(); // level 6 takes twice as long for the same size
}
