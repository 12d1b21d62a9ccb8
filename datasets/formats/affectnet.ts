import { AFFECTNET_IDS, canonicalEmotion, isEmotion, type Emotion } from '../vocabulary.js';
import { readClassFolders } from './folders.js';
import { resolveLabel, type DatasetOptions, type SourceListing } from './listing.js';
import type { InputView } from '../../engine/stage.js';

/**
 * AffectNet as folders named by its expression ids (0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear,
 * 5 disgust, 6 angry, 7 contempt, 8 none, 9 uncertain, 10 no-face) or by class name. Ids 7–10 have no
 * canonical emotion: their images are dropped and counted under their names.
 */
export function readAffectNet(view: InputView, options: DatasetOptions): SourceListing {
  const listing = readClassFolders(
    view,
    options,
    (folder) => affectNetLabel(folder, options),
    'AffectNet ids 0–10 or class names',
  );
  // Report non-emotion ids by name (contempt, none, …), whatever the folder was called.
  for (const [key, count] of Object.entries(listing.dropped)) {
    const name = /^\d+$/.test(key) ? AFFECTNET_IDS[Number(key)] : undefined;
    if (name && name !== key) {
      delete listing.dropped[key];
      listing.dropped[name] = (listing.dropped[name] ?? 0) + count;
    }
  }
  return listing;
}

function affectNetLabel(folder: string, options: DatasetOptions): Emotion | null | undefined {
  if (options.labels && Object.prototype.hasOwnProperty.call(options.labels, folder))
    return resolveLabel(folder, options.labels);
  if (/^\d+$/.test(folder)) {
    const name = AFFECTNET_IDS[Number(folder)];
    if (name === undefined) return undefined;
    return isEmotion(name) ? name : null;
  }
  return canonicalEmotion(folder);
}
