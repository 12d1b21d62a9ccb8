import { readAffectNet } from './affectnet.js';
import { readFer2013Csv } from './fer2013-csv.js';
import { readFolders } from './folders.js';
import type { FormatReader } from './listing.js';
import { readRafDb } from './raf-db.js';

/** Source formats by the name a pipeline's `format:` uses. */
export const FORMAT_READERS: Readonly<Record<string, FormatReader>> = {
  'fer2013-csv': readFer2013Csv,
  folders: readFolders,
  affectnet: readAffectNet,
  'raf-db': readRafDb,
};
