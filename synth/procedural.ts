import { seededRandom } from '../lib/random.js';
import { personInSubgroup } from './faces/attributes.js';
import { encodePng, renderFace } from './faces/render.js';
import { STYLES, type StyleName } from './faces/styles.js';
import type { SynthesisRequest, Synthesizer } from './types.js';

/**
 * The demo's face renderer as a synthesizer: it draws the requested emotion on a person of the requested
 * subgroup, seeded by the request's seed, in one of generate-faces' looks (AffectNet's colour look unless
 * told), as a square portrait of the requested width. `looks` gives a source's holes that source's look: a
 * stand-in for a generator whose faces pass for the source's own. It reads no prompt (it has no language
 * model); everything else of the request it honours. Offline and fast, so the demo and the tests exercise
 * the whole balancing path.
 */
export function proceduralSynthesizer(
  options: { look?: StyleName; looks?: Record<string, StyleName> } = {},
): Synthesizer {
  const look = options.look ?? 'affectnet';
  const looks = options.looks && Object.keys(options.looks).length ? options.looks : undefined;
  return {
    // Unchanged for the default look, so memoised faces of earlier runs stay valid.
    identity: `fer-dag procedural faces v1 (${look} look${looks ? `; by source ${JSON.stringify(Object.fromEntries(Object.entries(looks).sort()))}` : ''})`,
    concurrency: 4,
    ...(looks ? { bySource: true } : {}),
    async generate(request: SynthesisRequest): Promise<Uint8Array> {
      const rng = seededRandom(request.seed, 'procedural synthesizer');
      const { gender, age, ethnicity } = request.subgroup;
      const style = STYLES[(request.source !== undefined ? looks?.[request.source] : undefined) ?? look];
      const face = await renderFace(
        style,
        request.width,
        rng,
        request.emotion,
        personInSubgroup(rng, gender, age, ethnicity),
      );
      return encodePng(face);
    },
  };
}
