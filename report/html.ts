/**
 * The pieces report.html is made of. The page is self-contained (it opens offline, from a mail attachment or
 * a CI artifact): styles inline, charts as inline SVG, the PNGs other stages drew as data: URIs. Every chart
 * sits in a <figure class="chart" data-chart="KIND">, which the browser test counts.
 */

export const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function svgFigure(kind: string, svg: string, caption: string): string {
  // Vega's SVG carries an XML-free root element, so it can be placed in HTML as it is.
  return `<figure class="chart" data-chart="${escapeHtml(kind)}">${svg}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

export function pngFigure(kind: string, png: Uint8Array, caption: string): string {
  const uri = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
  return `<figure class="chart" data-chart="${escapeHtml(kind)}"><img alt="${escapeHtml(caption)}" src="${uri}"><figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

/** A table from a header row and body rows; cells are text (escaped) unless given as { html }. */
export function table(
  header: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number | { html: string }>>,
  className = '',
): string {
  const cell = (c: string | number | { html: string }, tag: 'td' | 'th') =>
    `<${tag}>${typeof c === 'object' ? c.html : escapeHtml(String(c))}</${tag}>`;
  return (
    `<table${className ? ` class="${className}"` : ''}><thead><tr>${header.map((h) => cell(h, 'th')).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c) => cell(c, 'td')).join('')}</tr>`).join('')}</tbody></table>`
  );
}

export function section(id: string, title: string, body: string): string {
  return `<section id="${escapeHtml(id)}"><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

const STYLE = `
body { font-family: sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: 0.3rem; }
p.lead { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.55rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
figure.chart { display: inline-block; margin: 0.5rem 1rem 1rem 0; vertical-align: top; }
figure.chart img { max-width: 100%; height: auto; }
figcaption { font-size: 0.8rem; color: #555; }
.real { color: #1a7f37; font-weight: bold; } .noise { color: #888; }
nav a { margin-right: 1rem; }
`;

export function page(
  title: string,
  subtitle: string,
  sections: ReadonlyArray<{ id: string; title: string; html: string }>,
): string {
  const nav = sections.map((s) => `<a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a>`).join('');
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><h1>${escapeHtml(title)}</h1><p class="lead">${escapeHtml(subtitle)}</p><nav>${nav}</nav>` +
    `${sections.map((s) => section(s.id, s.title, s.html)).join('')}</body></html>\n`
  );
}
