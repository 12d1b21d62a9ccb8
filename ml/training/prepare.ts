import { EMOTIONS } from '../../datasets/vocabulary.js';
import type { BackboneName } from '../architectures/backbone.js';
import type { BackendChoice } from '../runtime.js';
import type { RuntimeParams } from '../human/plan.js';
import type { StageContext } from '../../engine/stage.js';
import type { Example } from './examples.js';
import type { ExampleSource } from './fit.js';
import type { ModelSpec } from './model-spec.js';

/** The params that say which model is trained and on what pixels: train's, and reclassify-inputs' `model`. */
export interface ArchParams {
  arch: 'paper-cnn' | 'transfer';
  inputSize: number;
  channels: 1 | 3;
  width: number;
  dropout: number;
  batchNormMomentum: number;
  backbone: BackboneName;
  headUnits: number[];
  flip: boolean;
}

/**
 * The model to train and where its examples come from, by arch: decoded pixels for the paper CNN, or the
 * frozen backbone's memoised features for a transfer head (computed here for the images not yet memoised).
 */
export async function prepareArch(
  ctx: StageContext<unknown>,
  p: ArchParams,
  runtime: { backend: BackendChoice; cacheMegabytes: number; runtime: RuntimeParams },
  examples: readonly Example[],
): Promise<{ spec: ModelSpec; source: ExampleSource; flip: boolean }> {
  if (p.arch === 'paper-cnn') {
    const { PixelSource } = await import('./examples.js');
    const spec: ModelSpec = {
      arch: 'paper-cnn',
      inputSize: p.inputSize,
      channels: p.channels,
      width: p.width,
      dropout: p.dropout,
      batchNormMomentum: p.batchNormMomentum,
      classes: EMOTIONS.length,
    };
    return { spec, source: new PixelSource((hash) => ctx.readBlob(hash), p, runtime.cacheMegabytes), flip: p.flip };
  }
  const { backboneFeatures } = await import('./features.js');
  const features = await backboneFeatures(ctx, runtime.backend, runtime.runtime, p.backbone, examples);
  const spec: ModelSpec = {
    arch: 'transfer-head',
    featureSize: features.featureSize,
    units: p.headUnits,
    classes: EMOTIONS.length,
    dropout: p.dropout,
    batchNormMomentum: p.batchNormMomentum,
  };
  return { spec, source: features.source, flip: false };
}
