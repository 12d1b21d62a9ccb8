import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { FastBatchNorm } from '../layers/fast-batch-norm.js';
import { FastDropout } from '../layers/fast-dropout.js';
import { FastActivation } from '../layers/fast-activation.js';
import { FastConv2D } from '../layers/fast-conv2d.js';

/** The paper's custom CNN (docs/stages/train.md, `arch`), sized by these for tests and other inputs. */
export interface PaperCnnSpec {
  inputSize: number;
  channels: 1 | 3;
  /** Multiplies every layer's width; 1 is the paper's network, 0.125 a tiny one that trains in seconds. */
  width: number;
  classes: number;
  dropout: number;
  /**
   * Keras' 0.99 suits the paper's tens of thousands of images; a small dataset needs faster-moving
   * statistics.
   */
  batchNormMomentum: number;
}

const CONV_BLOCKS: ReadonlyArray<{ filters: number; kernel: number }> = [
  { filters: 64, kernel: 3 },
  { filters: 128, kernel: 5 },
  { filters: 512, kernel: 3 },
  { filters: 512, kernel: 3 },
];
const DENSE_UNITS = [256, 512];

const scaled = (units: number, width: number): number => Math.max(1, Math.round(units * width));

/**
 * Conv → BN → ReLU → MaxPool 2 → Dropout, four times; then Dense → BN → ReLU → Dropout for 256 and 512
 * units and a softmax. The convolutions pad 'same' so a 48×48 input ends at 3×3 after four poolings;
 * the conv layers have biases, as Keras' Conv2D does by default in the authors' script.
 */
export function buildPaperCnn(spec: PaperCnnSpec): LayersModel {
  const model = tfl.sequential({ name: 'paper_cnn' });
  CONV_BLOCKS.forEach((block, i) => {
    model.add(
      new FastConv2D({
        filters: scaled(block.filters, spec.width),
        kernelSize: block.kernel,
        padding: 'same',
        ...(i === 0 ? { inputShape: [spec.inputSize, spec.inputSize, spec.channels] } : {}),
      }),
    );
    model.add(new FastBatchNorm({ momentum: spec.batchNormMomentum }));
    model.add(new FastActivation({ activation: 'relu' }));
    model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    model.add(new FastDropout(spec.dropout));
  });
  model.add(tfl.layers.flatten());
  for (const units of DENSE_UNITS) {
    model.add(tfl.layers.dense({ units: scaled(units, spec.width) }));
    model.add(new FastBatchNorm({ momentum: spec.batchNormMomentum }));
    model.add(new FastActivation({ activation: 'relu' }));
    model.add(new FastDropout(spec.dropout));
  }
  model.add(tfl.layers.dense({ units: spec.classes, activation: 'softmax' }));
  return model;
}
