import * as tf from '@tensorflow/tfjs-core';
import { registerWasmGradientKernels } from './kernels/wasm-kernels.js';
import { loadDnnlAddon } from './kernels/native-addon.js';
import { registerNativeBackend } from './kernels/native-kernels.js';
import { BACKEND_ORDER, nativeThreads, type BackendChoice } from './backend-choice.js';

export { BACKEND_ORDER, resolveBackendChoice, type BackendChoice } from './backend-choice.js';

export interface Runtime {
  /** The backend tfjs runs on, as `tf.getBackend()` names it. */
  readonly backend: string;
  /** What was tried before it, and why each was passed over: logged, and kept in the stage record. */
  readonly skipped: readonly string[];
}

/**
 * tfjs-node-gpu and tfjs-node register a backend named `tensorflow` when imported; both are optional
 * dependencies whose install downloads libtensorflow, so on most machines (CI included) they are absent
 * or fail to load, and selection falls through to wasm, then to the pure-JS cpu backend.
 */
async function tryNative(pkg: string): Promise<string | undefined> {
  try {
    await import(pkg);
    return tf.findBackend('tensorflow') ? undefined : `${pkg} loaded but registered no backend`;
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? '';
    return (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND'
      ? `${pkg} is not installed`
      : `${pkg} failed to load: ${message}`;
  }
}

async function tryBackend(name: string): Promise<string | undefined> {
  try {
    if (name === 'wasm' || name === 'native') {
      await import('@tensorflow/tfjs-backend-wasm');
      registerWasmGradientKernels();
      if (name === 'native') {
        const loaded = loadDnnlAddon();
        if ('reason' in loaded) return loaded.reason;
        registerNativeBackend({ addon: loaded.addon, threads: nativeThreads() });
      }
    } else if (name === 'cpu') {
      await import('@tensorflow/tfjs-backend-cpu');
    }
    if (!(await tf.setBackend(name))) return `the ${name} backend did not initialise`;
    await tf.ready();
    return undefined;
  } catch (error) {
    return `the ${name} backend failed: ${(error as Error).message}`;
  }
}

let current: Runtime | undefined;
let currentChoice: BackendChoice | undefined;

/**
 * Selects a backend once per thread: `auto` takes the first that works in BACKEND_ORDER; a named one is
 * required (an error when it is not available, rather than silently training on something slower).
 */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<Runtime> {
  if (current && currentChoice === choice) return current;
  const wanted = choice === 'auto' ? [...BACKEND_ORDER] : [choice];
  const skipped: string[] = [];
  for (const name of wanted) {
    let reason: string | undefined;
    if (name === 'tensorflow-gpu' || name === 'tensorflow') {
      reason = await tryNative(name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
      if (!reason) reason = await tryBackend('tensorflow');
    } else {
      reason = await tryBackend(name);
    }
    if (!reason) {
      current = { backend: tf.getBackend(), skipped };
      currentChoice = choice;
      return current;
    }
    skipped.push(reason);
  }
  throw new Error(`no usable tfjs backend for "${choice}": ${skipped.join('; ')}`);
}
