import { createRequire } from 'node:module';
import { loadDnnlAddon } from './kernels/native-addon.js';

/**
 * The tfjs backends fer-dag can run on, fastest first (docs/design.md, "Models"). `native` is wasm with
 * oneDNN's convolutions, products and batch norm (ml/kernels/native-kernels.ts), where its addon is built.
 */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_ORDER)[number] | 'auto';

/** oneDNN threads per thread that trains (a replica): FER_DAG_NATIVE_THREADS, else one. */
export function nativeThreads(): number {
  const n = Number(process.env.FER_DAG_NATIVE_THREADS ?? 1);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

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
 * falls through at run time, which the stage record's `backend` shows. native's name carries what changes its
 * sums: oneDNN's instruction set (an AVX-512 machine trains other bytes than an AVX2 one) and, over one, the
 * threads a replica, which split its sums another way — "native (avx2)", "native (avx512_core_bf16, 2 threads)".
 */
export function resolveBackendChoice(choice: BackendChoice): string {
  let name: string = choice;
  if (choice === 'auto') {
    // Looked up once a process: every plan keys each training stage, and what is installed does not change.
    if (!autoName) {
      const tensorflow = Object.entries(TENSORFLOW_PACKAGES).find(([, pkg]) => installed(pkg));
      autoName = tensorflow ? tensorflow[0] : 'addon' in loadDnnlAddon() ? 'native' : 'wasm';
    }
    name = autoName;
  }
  return name === 'native' ? nativeName() : name;
}

function nativeName(): string {
  const loaded = loadDnnlAddon();
  const parts = 'addon' in loaded ? [loaded.addon.cpuIsa] : [];
  if (nativeThreads() > 1) parts.push(`${nativeThreads()} threads`);
  return parts.length ? `native (${parts.join(', ')})` : 'native';
}

let autoName: string | undefined;
