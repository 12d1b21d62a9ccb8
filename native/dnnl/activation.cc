#include "activation.h"
#include "simd.h"

namespace fer_dnnl {

FER_AVX2_CLONES void relu_grad(const float *__restrict x, const float *__restrict dy, int64_t n,
                               float *__restrict dx) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    // Selects, not branches, so the loop vectorises; a NaN x is its own step.
    float step = v > 0.f ? 1.f : 0.f;
    step = v != v ? v : step;
    dx[i] = dy[i] * step;
  }
}

}  // namespace fer_dnnl
