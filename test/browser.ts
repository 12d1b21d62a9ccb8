import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

/** Where Debian's chromium is (.ci/run installs it when missing); CHROMIUM overrides. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string =>
    Boolean(p),
  );
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found)
    throw new Error(
      `no chromium at ${candidates.join(' or ')}: install Debian's chromium (apt-get install chromium), as .ci/run does, or set CHROMIUM`,
    );
  return found;
}

/** The part of the DOM the checks read. */
interface PageDocument {
  querySelectorAll(selector: string): { length: number };
  images: ArrayLike<{ complete: boolean; naturalWidth: number }>;
}

export interface RenderedPage {
  /** How many elements matched each selector asked about, in the rendered page. */
  counts: Record<string, number>;
  /** Images that did not decode. */
  brokenImages: number;
}

/**
 * Opens a local HTML file in headless Chromium, fails if it fetches anything (a report must open offline),
 * takes a full-page screenshot and counts the elements matching `selectors` as the browser rendered them.
 */
export async function openInChromium(
  file: string,
  screenshot: string,
  selectors: readonly string[],
): Promise<RenderedPage> {
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const fetched: string[] = [];
    page.on('request', (r) => {
      if (!/^(file|data):/.test(r.url())) fetched.push(r.url());
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    if (fetched.length) throw new Error(`${file} fetched ${fetched.join(', ')}: it must open offline`);
    await page.screenshot({ path: screenshot, fullPage: true });
    // These functions run in the page; the project compiles without the DOM's types, hence the narrow cast.
    const counts = await page.evaluate(
      (list) => {
        const doc = (globalThis as unknown as { document: PageDocument }).document;
        return Object.fromEntries(list.map((s) => [s, doc.querySelectorAll(s).length]));
      },
      [...selectors],
    );
    const brokenImages = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: PageDocument }).document;
      return Array.from(doc.images).filter((i) => !i.complete || i.naturalWidth === 0).length;
    });
    return { counts, brokenImages };
  } finally {
    await browser.close();
  }
}
