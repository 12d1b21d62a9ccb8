import { humanModelFileMap } from '../ml/human/model-files.js';
import type { GenerationChecks } from './types.js';

/**
 * The human-models files the enabled checks load, for a generating stage's `modelFiles`: hashed into its key,
 * so new weights re-check. Kept apart from checks.ts so computing a key loads no tfjs.
 */
export function checkModelFiles(checks: GenerationChecks): Record<string, string> {
  return {
    ...(checks.oneFace ? humanModelFileMap('blazeface') : {}),
    ...(checks.emotion.enabled && checks.emotion.classifier === 'pretrained' ? humanModelFileMap('emotion') : {}),
    ...(checks.attributes.length ? { ...humanModelFileMap('gear'), ...humanModelFileMap('faceres') } : {}),
  };
}
