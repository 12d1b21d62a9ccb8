import { readFileSync } from 'node:fs';
import { loadHumanModel } from './models.js';
import { loadOnnxRuntime, openOnnxModel, ProviderUnavailableError, type Provider } from '../inference/session.js';
import { convertedHumanModel, graphInputShape, type ConvertedModelStore } from './inference.js';
import { graphModelInference, onnxInference, type InferenceModel } from '../inference/model.js';

/**
 * Where each human model of a stage runs, decided once in the stage's own thread before any work is sent out:
 * the words go into per-item memo keys (so they must be known before looking an item up), and worker threads
 * load exactly what was decided instead of deciding again.
 */
export interface ModelPlan {
  readonly name: string;
  /** "onnxruntime-node 1.30.0 cpu" or "tfjs <backend>": a memo key part. */
  readonly runtime: string;
  /** The converted model in the store, when it runs on onnxruntime. */
  readonly onnxFile?: string;
  /** Why it runs on tfjs although onnxruntime was asked for. */
  readonly passedOver?: string;
}

export interface RuntimeParams {
  provider: Provider;
  /** Threads per onnxruntime session; 0: the cores divided by the sessions that run at once. */
  threads: number;
}

/**
 * Plans `names`. A GPU provider (cuda, webgpu) that onnxruntime cannot offer here, or a model it cannot take,
 * is an error naming the fix; the CPU provider falls back to tfjs with the reason logged and recorded.
 */
export async function planHumanModels(
  names: readonly string[],
  runtime: RuntimeParams,
  backend: string,
  store: ConvertedModelStore,
): Promise<Record<string, ModelPlan>> {
  const plans: Record<string, ModelPlan> = {};
  const tfjs = `tfjs ${backend}`;
  if (runtime.provider === 'tfjs') {
    for (const name of names) plans[name] = { name, runtime: tfjs };
    return plans;
  }
  const loaded = await loadOnnxRuntime();
  for (const name of names) {
    const converted = 'reason' in loaded ? loaded : convertedHumanModel(name, store);
    if ('file' in converted && runtime.provider !== 'cpu' && !Object.keys(plans).length) {
      // Listed is not installed (cuda's library comes apart from the package): open a session to know.
      try {
        const model = await openOnnxModel(new Uint8Array(readFileSync(converted.file)), {
          provider: runtime.provider,
          threads: 1,
        });
        await model.release();
      } catch (error) {
        if (error instanceof ProviderUnavailableError) throw error;
        throw new ProviderUnavailableError(providerMissing(runtime.provider, (error as Error).message));
      }
    }
    if ('file' in converted) {
      plans[name] = {
        name,
        runtime: `onnxruntime-node ${(loaded as { version: string }).version} ${runtime.provider}`,
        onnxFile: converted.file,
      };
    } else {
      if (runtime.provider !== 'cpu')
        throw new ProviderUnavailableError(providerMissing(runtime.provider, converted.reason));
      plans[name] = { name, runtime: tfjs, passedOver: converted.reason };
    }
  }
  return plans;
}

function providerMissing(provider: Provider, why: string): string {
  return `runtime: { provider: ${provider} } cannot be used here (${why}); see docs/inference.md, or set runtime: { provider: cpu }`;
}

/** What a stage logs and records about its plans: one line per runtime. */
export function describePlans(plans: Record<string, ModelPlan>): string {
  const byRuntime = new Map<string, string[]>();
  for (const plan of Object.values(plans))
    byRuntime.set(plan.runtime, [...(byRuntime.get(plan.runtime) ?? []), plan.name]);
  const lines = [...byRuntime].map(([runtime, models]) => `${models.join(', ')} on ${runtime}`);
  const reasons = Object.values(plans).flatMap((p) => (p.passedOver ? [`${p.name}: ${p.passedOver}`] : []));
  return lines.join('; ') + (reasons.length ? ` (not on onnxruntime: ${reasons.join('; ')})` : '');
}

/** Loads a planned model in this thread (select the tfjs backend first: preprocessing runs on it). */
export async function loadPlanned(plan: ModelPlan, runtime: RuntimeParams, sharing: number): Promise<InferenceModel> {
  if (!plan.onnxFile) return graphModelInference(plan.name, await loadHumanModel(plan.name), plan.passedOver);
  const provider = runtime.provider === 'tfjs' ? 'cpu' : runtime.provider;
  const model = await openOnnxModel(new Uint8Array(readFileSync(plan.onnxFile)), {
    provider,
    threads: runtime.threads,
    sharing,
  });
  return onnxInference(plan.name, model, plan.runtime, graphInputShape(plan.name));
}

/** A worker thread's models, loaded once each and kept for the requests that follow. */
export class PlannedModels {
  private readonly loaded = new Map<string, Promise<InferenceModel>>();

  get(plan: ModelPlan, runtime: RuntimeParams, sharing: number): Promise<InferenceModel> {
    const key = `${plan.name}\n${plan.runtime}\n${plan.onnxFile ?? ''}`;
    let model = this.loaded.get(key);
    if (!model) this.loaded.set(key, (model = loadPlanned(plan, runtime, sharing)));
    return model;
  }
}
