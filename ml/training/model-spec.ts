import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { FastBatchNorm } from '../layers/fast-batch-norm.js';
import { FastDropout } from '../layers/fast-dropout.js';
import { FastActivation } from '../layers/fast-activation.js';
import { buildPaperCnn, type PaperCnnSpec } from '../architectures/paper-cnn.js';

/**
 * What a replica builds. The transfer arch trains only its head here: the frozen backbone's features
 * are computed (and memoised) before training, so a training example is a feature vector.
 */
export type ModelSpec =
  | ({ arch: 'paper-cnn' } & PaperCnnSpec)
  | {
      arch: 'transfer-head';
      featureSize: number;
      units: number[];
      classes: number;
      dropout: number;
      batchNormMomentum: number;
    };

/** The shape of one example, without the batch axis. */
export function exampleShape(spec: ModelSpec): number[] {
  return spec.arch === 'paper-cnn' ? [spec.inputSize, spec.inputSize, spec.channels] : [spec.featureSize];
}

/**
 * The paper's transfer head (its Fig. 9): Dense 256 → Dense 512 → softmax on the backbone's pooled
 * features, each hidden layer with batch normalisation, ReLU and dropout as in the custom CNN's head.
 */
function buildTransferHead(spec: Extract<ModelSpec, { arch: 'transfer-head' }>): LayersModel {
  const model = tfl.sequential({ name: 'transfer_head' });
  spec.units.forEach((units, i) => {
    model.add(tfl.layers.dense({ units, ...(i === 0 ? { inputShape: [spec.featureSize] } : {}) }));
    model.add(new FastBatchNorm({ momentum: spec.batchNormMomentum }));
    model.add(new FastActivation({ activation: 'relu' }));
    model.add(new FastDropout(spec.dropout));
  });
  model.add(tfl.layers.dense({ units: spec.classes, activation: 'softmax' }));
  return model;
}

export function buildModel(spec: ModelSpec): LayersModel {
  if (spec.arch === 'paper-cnn') {
    const { arch: _arch, ...cnn } = spec;
    return buildPaperCnn(cnn);
  }
  return buildTransferHead(spec);
}
