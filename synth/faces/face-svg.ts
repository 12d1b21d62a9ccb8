import type { Identity, Rgb } from './attributes.js';
import type { ExpressionShape, MouthShape } from './expression.js';

/** SVG fragments of one face in a 200×200 frame, head centred at (100, 100); the scene places and poses it. */

const CX = 100;
const CY = 100;
const f = (n: number) => (Math.round(n * 10) / 10).toString();
export const rgb = (c: Rgb, k = 1) => `rgb(${c.map((v) => Math.max(0, Math.min(255, Math.round(v * k)))).join(',')})`;
const line = (d: string, color: string, width: number, opacity = 1) =>
  `<path d="${d}" fill="none" stroke="${color}" stroke-width="${f(width)}" stroke-linecap="round"${opacity < 1 ? ` stroke-opacity="${f(opacity)}"` : ''}/>`;

/** Where the features sit: children have lower-set features in a rounder face. */
function layout(id: Identity, ex: ExpressionShape) {
  const h = id.halfHeight;
  const child = id.person.age === 'child';
  const eyeY = CY + (child ? 0.1 : 0) * h;
  return {
    w: id.halfWidth,
    h,
    eyeY,
    eyeDx: 0.42 * id.halfWidth,
    browY: eyeY - 17,
    noseY: CY + (child ? 0.43 : 0.4) * h,
    mouthY: CY + (child ? 0.61 : 0.57) * h + (ex.mouth.round ? 3 : 0),
  };
}
type Layout = ReturnType<typeof layout>;

function headPath(w: number, h: number, jaw: number): string {
  const jawY = CY + (0.45 + 0.15 * jaw) * h;
  const chinX = (0.35 + 0.35 * jaw) * w;
  return (
    `M${f(CX)},${f(CY - h)} C${f(CX + 0.75 * w)},${f(CY - h)} ${f(CX + w)},${f(CY - 0.6 * h)} ${f(CX + w)},${f(CY - 0.05 * h)} ` +
    `C${f(CX + w)},${f(jawY)} ${f(CX + chinX)},${f(CY + h)} ${f(CX)},${f(CY + h)} ` +
    `C${f(CX - chinX)},${f(CY + h)} ${f(CX - w)},${f(jawY)} ${f(CX - w)},${f(CY - 0.05 * h)} ` +
    `C${f(CX - w)},${f(CY - 0.6 * h)} ${f(CX - 0.75 * w)},${f(CY - h)} ${f(CX)},${f(CY - h)}Z`
  );
}

function hairBack(id: Identity, { w, h }: Layout): string {
  const color = rgb(id.hair.color);
  switch (id.hair.style) {
    case 'long': {
      // falls straight past the ears to the shoulders
      const [x0, x1, bottom] = [CX - w - 13, CX + w + 13, CY + 1.05 * h];
      return (
        `<path d="M${f(x0)},${f(bottom)} L${f(x0)},${f(CY - 0.2 * h)} C${f(x0)},${f(CY - h - 16)} ${f(x1)},${f(CY - h - 16)} ${f(x1)},${f(CY - 0.2 * h)} ` +
        `L${f(x1)},${f(bottom)} Q${CX},${f(bottom - 8)} ${f(x0)},${f(bottom)}Z" fill="${color}"/>`
      );
    }
    case 'bun':
      return `<circle cx="${CX}" cy="${f(CY - h - 8)}" r="21" fill="${color}"/>`;
    case 'curly': {
      let curls = '';
      for (let a = 180; a <= 360; a += 22.5) {
        const r = (a * Math.PI) / 180;
        curls += `<circle cx="${f(CX + (w + 4) * Math.cos(r))}" cy="${f(CY - 0.1 * h + (h + 8) * Math.sin(r))}" r="17"/>`;
      }
      return `<g fill="${color}">${curls}</g>`;
    }
    case 'bald': // a fringe of hair around the ears
      return `<g fill="${color}"><ellipse cx="${f(CX - w + 1)}" cy="${f(CY - 0.12 * h)}" rx="9" ry="19"/><ellipse cx="${f(CX + w - 1)}" cy="${f(CY - 0.12 * h)}" rx="9" ry="19"/></g>`;
    default:
      return '';
  }
}

/** The hair over the top of the head, down to a hairline high enough that raised brows stay on skin. */
function hairCap(id: Identity, { w, h }: Layout): string {
  if (id.hair.style === 'bald') return '';
  const temple = CY - 0.1 * h;
  // A cubic whose two controls share a height peaks 3/4 of the way there: put the peak above the skull.
  const peak = CY - h - (id.hair.style === 'curly' ? 12 : 7);
  const top = temple + (peak - temple) / 0.75;
  const hairline = CY - (id.hair.style === 'long' ? 0.76 : 0.8) * h;
  const d =
    `M${f(CX - w - 4)},${f(temple)} C${f(CX - w - 8)},${f(top)} ${f(CX + w + 8)},${f(top)} ${f(CX + w + 4)},${f(temple)} ` +
    `L${f(CX + w - 5)},${f(temple)} C${f(CX + w - 8)},${f(hairline - 8)} ${f(CX + 0.3 * w)},${f(hairline)} ${f(CX)},${f(hairline)} ` +
    `C${f(CX - 0.3 * w)},${f(hairline)} ${f(CX - w + 8)},${f(hairline - 8)} ${f(CX - w + 5)},${f(temple)}Z`;
  return `<path d="${d}" fill="${rgb(id.hair.color)}"/>`;
}

function beard(id: Identity, { w, h, mouthY }: Layout): string {
  if (id.beard === 'none') return '';
  const jawY = CY + (0.45 + 0.15 * id.jaw) * h;
  const chinX = (0.35 + 0.35 * id.jaw) * w;
  const side = CY - 0.05 * h;
  const d =
    `M${f(CX + w)},${f(side)} C${f(CX + w)},${f(jawY)} ${f(CX + chinX)},${f(CY + h)} ${f(CX)},${f(CY + h)} ` +
    `C${f(CX - chinX)},${f(CY + h)} ${f(CX - w)},${f(jawY)} ${f(CX - w)},${f(side)} ` +
    `L${f(CX - w + 8)},${f(side)} Q${f(CX - w + 10)},${f(mouthY + 14)} ${f(CX)},${f(mouthY + 17)} ` +
    `Q${f(CX + w - 10)},${f(mouthY + 14)} ${f(CX + w - 8)},${f(side)}Z`;
  return `<path d="${d}" fill="${rgb(id.hair.color)}"${id.beard === 'stubble' ? ' fill-opacity="0.35"' : ''}/>`;
}

/** Emotion wrinkles (glabella, nose, forehead, smile lines) and age wrinkles share one stroke colour. */
function wrinkles(id: Identity, ex: ExpressionShape, l: Layout): string {
  const ink = rgb(id.skin, 0.6);
  const old = id.person.age === 'old';
  const adult = id.person.age === 'adult';
  let out = '';
  const browMid = l.browY + (ex.browInner + ex.browOuter) / 2 - ex.browArch;
  const forehead = Math.max(ex.foreheadLines, old ? 0.45 : 0);
  for (const dy of [9, 16])
    if (forehead > 0)
      out += line(
        `M${CX - 26},${f(browMid - dy)} Q${CX},${f(browMid - dy - 5)} ${CX + 26},${f(browMid - dy)}`,
        ink,
        2.6,
        forehead,
      );
  if (ex.glabella > 0)
    for (const s of [-1, 1])
      out += line(`M${CX + s * 4},${f(l.browY - 9)} L${CX + s * 5},${f(l.browY + 9)}`, ink, 3.2, ex.glabella);
  if (ex.noseWrinkles > 0)
    for (const dy of [6, 11, 16])
      out += line(
        `M${CX - 10},${f(l.eyeY + dy)} Q${CX},${f(l.eyeY + dy - 4)} ${CX + 10},${f(l.eyeY + dy)}`,
        ink,
        2.6,
        ex.noseWrinkles,
      );
  const smile = Math.max(ex.smileLines, old ? 0.6 : adult ? 0.25 : 0);
  const mw = ex.mouth.halfWidth;
  if (smile > 0)
    for (const s of [-1, 1])
      out += line(
        `M${f(CX + s * 14)},${f(l.noseY - 7)} Q${f(CX + s * (mw + 14))},${f(l.mouthY - 8)} ${f(CX + s * (mw + 8))},${f(l.mouthY + 10)}`,
        ink,
        2.8,
        smile,
      );
  if (old || ex.smileLines > 0.5) {
    for (const s of [-1, 1]) {
      // crow's feet at the outer eye corners
      const x = CX + s * (l.eyeDx + 14);
      out += line(
        `M${f(x)},${f(l.eyeY - 3)} L${f(x + s * 6)},${f(l.eyeY - 6)} M${f(x)},${f(l.eyeY + 2)} L${f(x + s * 6)},${f(l.eyeY + 4)}`,
        ink,
        2,
        0.7,
      );
    }
  }
  if (old)
    for (const s of [-1, 1])
      out += line(
        `M${f(CX + s * l.eyeDx - 10)},${f(l.eyeY + 9)} Q${f(CX + s * l.eyeDx)},${f(l.eyeY + 14)} ${f(CX + s * l.eyeDx + 10)},${f(l.eyeY + 9)}`,
        ink,
        2.2,
        0.6,
      );
  return out;
}

function brows(id: Identity, ex: ExpressionShape, l: Layout): string {
  const width = id.person.age === 'child' ? 5 : id.person.gender === 'male' ? 8 : 6;
  let d = '';
  for (const s of [-1, 1]) {
    const inner = [CX + s * (9 - ex.browPinch), l.browY + ex.browInner];
    const outer = [CX + s * (l.eyeDx + 17), l.browY + ex.browOuter];
    const mid = [(inner[0]! + outer[0]!) / 2, (inner[1]! + outer[1]!) / 2 - 2 * ex.browArch];
    d += `M${f(inner[0]!)},${f(inner[1]!)} Q${f(mid[0]!)},${f(mid[1]!)} ${f(outer[0]!)},${f(outer[1]!)} `;
  }
  return line(d.trim(), rgb(id.brow), width);
}

function eyes(id: Identity, ex: ExpressionShape, l: Layout): string {
  const k = id.eyeScale;
  const half = 12 * k;
  const up = 6.5 * k * ex.eyeOpen;
  const down = 5 * k * (1 - 0.7 * ex.lowerLid);
  const lid = id.person.gender === 'female' && id.person.age !== 'child' ? 3.4 : 2.6;
  let out = '';
  for (const [i, s] of [-1, 1].entries()) {
    const x = CX + s * l.eyeDx;
    const y = l.eyeY;
    const shape = `M${f(x - half)},${f(y)} Q${f(x)},${f(y - 2 * up)} ${f(x + half)},${f(y)} Q${f(x)},${f(y + 2 * down)} ${f(x - half)},${f(y)}Z`;
    out +=
      `<clipPath id="eye${i}"><path d="${shape}"/></clipPath><path d="${shape}" fill="rgb(246,244,238)"/>` +
      `<g clip-path="url(#eye${i})"><circle cx="${f(x)}" cy="${f(y)}" r="${f(6.2 * k)}" fill="rgb(70,50,36)"/><circle cx="${f(x)}" cy="${f(y)}" r="${f(2.8 * k)}" fill="rgb(10,10,10)"/></g>` +
      line(`M${f(x - half)},${f(y)} Q${f(x)},${f(y - 2 * up)} ${f(x + half)},${f(y)}`, 'rgb(40,28,24)', lid) +
      line(`M${f(x - half)},${f(y)} Q${f(x)},${f(y + 2 * down)} ${f(x + half)},${f(y)}`, rgb(id.skin, 0.55), 1.6);
  }
  return out;
}

function glasses(id: Identity, l: Layout): string {
  if (!id.glasses) return '';
  const r = 15.5 * id.eyeScale;
  const frame = 'rgb(28,28,34)';
  return (
    `<g fill="rgb(235,240,245)" fill-opacity="0.12" stroke="${frame}" stroke-width="3.2">` +
    `<circle cx="${f(CX - l.eyeDx)}" cy="${f(l.eyeY)}" r="${f(r)}"/><circle cx="${f(CX + l.eyeDx)}" cy="${f(l.eyeY)}" r="${f(r)}"/></g>` +
    line(
      `M${f(CX - l.eyeDx + r)},${f(l.eyeY - 2)} Q${CX},${f(l.eyeY - 7)} ${f(CX + l.eyeDx - r)},${f(l.eyeY - 2)}` +
        ` M${f(CX - l.eyeDx - r)},${f(l.eyeY - 3)} L${f(CX - l.w)},${f(l.eyeY - 5)} M${f(CX + l.eyeDx + r)},${f(l.eyeY - 3)} L${f(CX + l.w)},${f(l.eyeY - 5)}`,
      frame,
      3,
    )
  );
}

function nose(id: Identity, l: Layout): string {
  const y = l.noseY;
  const ink = rgb(id.skin, 0.6);
  return (
    line(`M${CX - 6},${f(l.eyeY + 12)} Q${CX - 8},${f(y - 12)} ${CX - 11},${f(y - 5)}`, ink, 2, 0.5) +
    line(
      `M${CX - 13},${f(y - 3)} Q${CX - 12},${f(y + 4)} ${CX - 5},${f(y + 3)} Q${CX},${f(y + 6)} ${CX + 5},${f(y + 3)} Q${CX + 12},${f(y + 4)} ${CX + 13},${f(y - 3)}`,
      ink,
      2.8,
    )
  );
}

/** Corners, and a quadratic control point that puts an edge's middle at height `mid` (below the mouth line). */
function mouth(id: Identity, m: MouthShape, l: Layout): string {
  const y = l.mouthY;
  const [lx, ly, rx, ry] = [CX - m.halfWidth, y + m.left, CX + m.halfWidth, y + m.right];
  const midX = CX + m.skew * m.halfWidth;
  const control = (mid: number) => `${f(midX)},${f(2 * (y + mid) - (ly + ry) / 2)}`;
  const lips = rgb(id.lips);
  const interior = 'rgb(58,18,24)';
  if (m.round) {
    return `<ellipse cx="${CX}" cy="${f(y + (m.upper + m.lower) / 2)}" rx="${f(m.halfWidth)}" ry="${f((m.lower - m.upper) / 2)}" fill="${interior}" stroke="${lips}" stroke-width="4.5"/>`;
  }
  if (m.lower - m.upper < 3)
    return line(
      `M${f(lx)},${f(ly)} Q${control((m.upper + m.lower) / 2)} ${f(rx)},${f(ry)}`,
      rgb(id.lips, 0.8),
      m.lineWidth,
    );
  const upperEdge = `M${f(lx)},${f(ly)} Q${control(m.upper)} ${f(rx)},${f(ry)}`;
  const shape = `${upperEdge} Q${control(m.lower)} ${f(lx)},${f(ly)}Z`;
  // Teeth follow the lip lines, so a grin's teeth curve up with its corners.
  let teeth = line(`M${f(lx)},${f(ly + 3)} Q${control(m.upper + 3)} ${f(rx)},${f(ry + 3)}`, 'rgb(244,242,232)', 8);
  if (m.teeth === 'both')
    teeth += line(`M${f(lx)},${f(ly - 3)} Q${control(m.lower - 3)} ${f(rx)},${f(ry - 3)}`, 'rgb(232,230,220)', 7);
  return (
    `<clipPath id="mouth"><path d="${shape}"/></clipPath><path d="${shape}" fill="${interior}"/>` +
    (m.teeth === 'none' ? '' : `<g clip-path="url(#mouth)">${teeth}</g>`) +
    `<path d="${shape}" fill="none" stroke="${lips}" stroke-width="4.5" stroke-linejoin="round"/>`
  );
}

function tears(ex: ExpressionShape, l: Layout): string {
  if (!ex.tears) return '';
  const x = CX - l.eyeDx + 4;
  const y = l.eyeY + 11;
  return `<path d="M${f(x)},${f(y)} C${f(x - 5)},${f(y + 9)} ${f(x - 5)},${f(y + 14)} ${f(x)},${f(y + 14)} C${f(x + 5)},${f(y + 14)} ${f(x + 5)},${f(y + 9)} ${f(x)},${f(y)}Z" fill="rgb(196,222,246)" stroke="rgb(110,140,180)" stroke-width="1.2"/>`;
}

/** The neck, drawn by the scene before the clothes so the collar covers its base. */
export function neckSvg(id: Identity): string {
  const [w, h] = [id.halfWidth, id.halfHeight];
  return `<rect x="${f(CX - 0.42 * w)}" y="${f(CY + 0.5 * h)}" width="${f(0.84 * w)}" height="${f(0.9 * h)}" fill="${rgb(id.skin, 0.8)}"/>`;
}

/** The whole head, back to front: hair behind, ears, skin, beard, hair on top, then the features. */
export function faceSvg(id: Identity, ex: ExpressionShape): string {
  const l = layout(id, ex);
  const skin = rgb(id.skin);
  const ears = [-1, 1]
    .map(
      (s) =>
        `<ellipse cx="${f(CX + s * (l.w - 1))}" cy="${f(CY + 0.08 * l.h)}" rx="8" ry="15" fill="${rgb(id.skin, 0.92)}"/>`,
    )
    .join('');
  return (
    hairBack(id, l) +
    ears +
    `<path d="${headPath(l.w, l.h, id.jaw)}" fill="${skin}"/>` +
    beard(id, l) +
    hairCap(id, l) +
    wrinkles(id, ex, l) +
    nose(id, l) +
    brows(id, ex, l) +
    eyes(id, ex, l) +
    glasses(id, l) +
    mouth(id, ex.mouth, l) +
    tears(ex, l)
  );
}
