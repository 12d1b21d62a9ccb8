// tfjs' FusedBatchNorm on the last axis: y = (x − mean) · scale / √(variance + ε) + offset, per channel.
#pragma once
#include <cstdint>

namespace fer_dnnl {

// Each of mean, variance, offset, scale holds `channels` values, or one (then `*_step` is 0); offset and scale
// may be null (0 and 1).
struct ChannelParams {
  const float *mean, *variance, *offset, *scale;
  int64_t mean_step, variance_step, offset_step, scale_step;
};

void batch_norm(const float *x, int64_t rows, int64_t channels, const ChannelParams &p, float epsilon, float *y,
                int threads);

}  // namespace fer_dnnl

namespace fer_dnnl {

// Training-mode batch norm over the last axis of x [rows, channels]: the batch's mean and (biased) variance per
// channel, summed in double, and y = (x − mean)·γ/√(variance + ε) + β.
void batch_norm_training(const float *x, int64_t rows, int64_t channels, const float *gamma, const float *beta,
                         float epsilon, float *y, float *mean, float *variance);
// Its gradient given dy: dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/σ·(dy − dβ/m − x̂·dγ/m), x̂ = (x − mean)/σ.
void batch_norm_training_grad(const float *x, const float *dy, const float *mean, const float *variance,
                              const float *gamma, int64_t rows, int64_t channels, float epsilon, float *dx,
                              float *dgamma, float *dbeta);

}  // namespace fer_dnnl
