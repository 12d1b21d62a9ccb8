import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed package's root (this file is compiled to dist/engine/paths.js). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const schemasDir = path.join(packageRoot, 'schemas');

/** Paths in specs, trees and lockfiles always use `/`, whatever the platform. */
export function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}
