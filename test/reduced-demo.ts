// The demo's shape at a size CI can run twice: three generated sources (fer2013 with planted near-duplicates),
// merge, quality (with a warning check that fails: the planted copies are found), reclassify, agr with the
// real attribute models, distribute (keeping the clusters whole), a balanced evaluator and an artificial set
// (procedural, unchecked), five trainings of two epochs, the cross-evaluation, the report, and a command stage.
const SOURCES = `  fer2013: { type: generate-faces, params: { style: fer2013, perClass: 10, nearDuplicates: { within: 3 } } }
  nhfi: { type: generate-faces, params: { style: nhfi, perClass: 6, size: 48, contempt: 1 } }
  affectnet: { type: generate-faces, params: { style: affectnet, perClass: 6, size: 48, contempt: 1 } }
`;
const FOURTH = `  fer2013-more: { type: generate-faces, params: { style: fer2013, perClass: 3, labelNoise: 0 } }
`;
const REST = (
  mergeInputs: string,
  nhfiEpochs: number,
  gate: 'warn' | 'error',
) => `  merge: { type: merge, inputs: [${mergeInputs}] }
  quality: { type: quality, input: merge, checks: [{ maxDuplicatePairs: 0, severity: ${gate} }] }
  reclassify: { type: reclassify-inputs, input: quality, params: { folds: 2, model: { arch: transfer, backbone: mobileface, epochs: 3 } } }
  agr: { type: agr, input: reclassify, params: { attributes: predict } }
  distribute: { type: distribute, input: agr, checks: [{ maxCrossSplitDuplicates: 0 }] }
  evaluator: { type: balance-with-synthesis, input: distribute, params: { perSubgroup: 1, width: 64, height: 64, checks: { oneFace: false, emotion: { enabled: false }, attributes: [] } } }
  artificial: { type: synthesize, params: { perSubgroup: 1, testPerSubgroup: 1, width: 64, height: 64, checks: { oneFace: false, emotion: { enabled: false }, attributes: [] } } }
  train-fer2013: { type: train, input: evaluator, params: { trainOn: [fer2013], epochs: 2, width: 0.125, inputSize: 24, batchSize: 16 } }
  train-nhfi: { type: train, input: evaluator, params: { trainOn: [nhfi], arch: transfer, backbone: mobileface, epochs: ${nhfiEpochs}, flip: false } }
  train-affectnet: { type: train, input: evaluator, params: { trainOn: [affectnet], epochs: 2, width: 0.125, inputSize: 24, batchSize: 16 } }
  train-artificial: { type: train, input: artificial, params: { arch: transfer, backbone: mobileface, epochs: 2, flip: false } }
  train-merged: { type: train, input: evaluator, params: { epochs: 2, width: 0.125, inputSize: 24, batchSize: 16 } }
  cross: { type: cross-evaluate, input: evaluator, inputs: [artificial], models: [train-fer2013, train-nhfi, train-affectnet, train-artificial, train-merged], params: { resamples: 100 } }
  report: { type: report, inputs: [cross, train-fer2013, train-nhfi, train-affectnet, train-artificial, train-merged, distribute, evaluator, reclassify, quality] }
  card:
    type: command
    description: a dataset card beside the pipeline, written by a script of the user's
    cmd: [node, -e, "require('fs').mkdirSync('card', { recursive: true }); require('fs').writeFileSync('card/card.md', '# demo, seed ' + process.env.FER_DAG_SEED + '\\\\n' + process.env.FER_DAG_PARAMS + '\\\\n')"]
    params: { title: reduced demo }
    outs: [card]
`;
export const reducedDemo = (
  options: { fourth?: boolean; nhfiEpochs?: number; gate?: 'warn' | 'error' } = {},
) => `version: 1
seed: 5
stages:
${SOURCES}${options.fourth ? FOURTH : ''}${REST(['fer2013', 'nhfi', 'affectnet', ...(options.fourth ? ['fer2013-more'] : [])].join(', '), options.nhfiEpochs ?? 2, options.gate ?? 'warn')}`;
