/**
 * Kernels fer-dag adds to a backend that can run them (the native one), each doing in one pass what tfjs ops do
 * in several whole-tensor passes. The layers that need them (FastBatchNorm, FastActivation) use them when the
 * current backend has them, and tfjs' ops otherwise.
 *
 * BATCH_NORM_TRAINING: inputs { x, gamma, beta } (normalised over the last axis), attrs { epsilon }; outputs
 * [y, mean, variance] (the batch's, variance biased).
 * BATCH_NORM_TRAINING_GRAD: inputs { x, dy, mean, variance, gamma }, attrs { epsilon }; outputs [dx, dgamma, dbeta].
 * RELU_GRAD: inputs { x, dy } of one shape; output dx = dy · step(x) (tfjs' Relu gradient, where step is 1 for
 * x > 0, NaN for NaN and 0 otherwise).
 */
export const BATCH_NORM_TRAINING = 'FerDagBatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'FerDagBatchNormTrainingGrad';
export const RELU_GRAD = 'FerDagReluGrad';
