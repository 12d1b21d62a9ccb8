/**
 * Kernels fer-dag adds to a backend that can run them (the native one): training-mode batch norm in one
 * kernel forward and one backward, where tfjs ops take about a dozen whole-tensor passes between them.
 * FastBatchNorm uses them when the current backend has them.
 *
 * BATCH_NORM_TRAINING: inputs { x, gamma, beta } (normalised over the last axis), attrs { epsilon }; outputs
 * [y, mean, variance] (the batch's, variance biased).
 * BATCH_NORM_TRAINING_GRAD: inputs { x, dy, mean, variance, gamma }, attrs { epsilon }; outputs [dx, dgamma, dbeta].
 */
export const BATCH_NORM_TRAINING = 'FerDagBatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'FerDagBatchNormTrainingGrad';
