#include "adam.h"

#include <cmath>

namespace fer_dnnl {

// Built without -mfma (binding.gyp), so no multiply-add is fused: each operation rounds as JavaScript's does.
void adam_step(float *w, float *m, float *v, const float *g, int64_t n, const AdamSettings &s) {
  const double b1 = s.beta1, b2 = s.beta2, a1 = 1 - s.beta1, a2 = 1 - s.beta2;
  for (int64_t i = 0; i < n; i++) {
    const double gi = g[i];
    const double mi = b1 * static_cast<double>(m[i]) + a1 * gi;
    const double vi = b2 * static_cast<double>(v[i]) + a2 * gi * gi;
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    w[i] = static_cast<float>(static_cast<double>(w[i]) - (s.learning_rate * (mi / s.correction1)) /
                                                              (std::sqrt(vi / s.correction2) + s.epsilon));
  }
}

}  // namespace fer_dnnl
