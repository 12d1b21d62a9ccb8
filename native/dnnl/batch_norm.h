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
