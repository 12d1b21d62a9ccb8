import {
  countDropped,
  emptyListing,
  extensionOf,
  IMAGE_EXTENSIONS,
  resolveLabel,
  splitFolder,
  type DatasetOptions,
  type SourceListing,
} from './listing.js';
import type { InputView } from '../../engine/stage.js';
import type { Emotion } from '../vocabulary.js';

/**
 * One folder per class under the root, optionally under split folders (`train/`, `test/`, `val/`). How a
 * folder name becomes a label is the caller's: `folders` accepts names in any spelling, `affectnet` ids.
 */
export function readClassFolders(
  view: InputView,
  options: DatasetOptions,
  labelOf: (folder: string) => Emotion | null | undefined,
  formatHint: string,
): SourceListing {
  const listing = emptyListing();
  const unknown = new Map<string, number>();
  for (const rel of Object.keys(view.files)) {
    const parts = rel.split('/');
    const split = parts.length >= 3 ? splitFolder(parts[0]!) : undefined;
    const classParts = split ? parts.slice(1) : parts;
    if (classParts.length < 2) {
      // A README, a licence or a generated source's own metadata beside the class folders is not an input.
      if (!IMAGE_EXTENSIONS.has(extensionOf(rel))) continue;
      listing.skipped.push({
        origPath: rel,
        reason: `not inside a class folder (expected ${split ? `${parts[0]}/` : ''}<class>/<image>)`,
      });
      continue;
    }
    const folder = classParts[0]!;
    if (!IMAGE_EXTENSIONS.has(extensionOf(rel))) {
      listing.skipped.push({
        origPath: rel,
        reason: `not an image file (${extensionOf(rel) || 'no extension'}); expected JPG, PNG, WebP or BMP`,
      });
      continue;
    }
    const label = labelOf(folder);
    if (label === undefined) {
      const key = split ? `${parts[0]}/${folder}` : folder;
      unknown.set(key, (unknown.get(key) ?? 0) + 1);
      continue;
    }
    if (label === null) {
      countDropped(listing, (options.labels?.[folder] as string | undefined) ?? folder.toLowerCase());
      continue;
    }
    listing.images.push({
      origPath: rel,
      sourceLabel: folder,
      label,
      bytes: { kind: 'file', rel },
      ...(split ? { split } : {}),
    });
  }
  for (const [folder, count] of unknown) {
    listing.skipped.push({
      origPath: `${folder}/`,
      count,
      reason: `unknown class folder "${folder.split('/').pop()}" (${formatHint}); map it in the dataset's labels: { ${folder.split('/').pop()}: <emotion> } or null to leave it out`,
    });
  }
  return listing;
}

export function readFolders(view: InputView, options: DatasetOptions): SourceListing {
  return readClassFolders(
    view,
    options,
    (folder) => resolveLabel(folder, options.labels),
    'class names like angry, disgust, fear, happy, neutral, sad, surprise',
  );
}
