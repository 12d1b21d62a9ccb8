import { seededRandom } from '../../engine/random.js';
import { personInSubgroup } from '../faces/attributes.js';
import { encodePng, renderFace } from '../faces/render.js';
import { STYLES } from '../faces/styles.js';
import type { SynthesisRequest, Synthesizer } from './types.js';

/**
 * The demo's face renderer as a synthesizer: it draws the requested emotion on a person of the requested
 * subgroup, seeded by the request's seed, in the AffectNet-style colour look, as a square portrait of the
 * requested width. It reads no prompt (it has no language model); everything else of the request it honours.
 * Offline and fast, so the demo and the tests exercise the whole balancing path.
 */
export function proceduralSynthesizer(): Synthesizer {
  return {
    identity: 'fer-dag procedural faces v1 (affectnet look)',
    concurrency: 4,
    async generate(request: SynthesisRequest): Promise<Uint8Array> {
      const rng = seededRandom(request.seed, 'procedural synthesizer');
      const { gender, age, ethnicity } = request.subgroup;
      const face = await renderFace(STYLES.affectnet, request.width, rng, request.emotion, personInSubgroup(rng, gender, age, ethnicity));
      return encodePng(face);
    },
  };
}
