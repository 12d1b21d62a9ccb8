import { createRequire } from 'node:module';
import { loadDnnlAddon } from './kernels/native-addon.js';

/**
 * The tfjs backends fer-dag can run on, fastest first (docs/design.md, "Models"). `native` is wasm with
 * oneDNN's convolutions, products and batch norm (ml/kernels/native-kernels.ts), where its addon is built.
 */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_ORDER)[number] | 'auto';

const TENSORFLOW_PACKAGES = { 'tensorflow-gpu': '@tensorflow/tfjs-node-gpu', tensorflow: '@tensorflow/tfjs-node' };

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/**
 * The backend `choice` comes to on this machine, found without starting tfjs: what a stage that trains puts in
 * its key, since each backend rounds its own way (the same seed gives other weights on wasm and on native).
 * `auto` is the first of BACKEND_ORDER that is installed; a tfjs-node that is installed but fails to load
 * falls through at run time, which the stage record's `backend` shows.
 */
export function resolveBackendChoice(choice: BackendChoice): string {
  if (choice !== 'auto') return choice;
  for (const [name, pkg] of Object.entries(TENSORFLOW_PACKAGES)) if (installed(pkg)) return name;
  return 'addon' in loadDnnlAddon() ? 'native' : 'wasm';
}
