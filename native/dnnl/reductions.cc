#include "reductions.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace fer_dnnl {

void reduce_rows(const float *x, int64_t rows, int64_t cols, bool mean, float *y) {
  std::vector<double> acc(cols, 0.0);
  double *a = acc.data();
  for (int64_t r = 0; r < rows; r++) {
    const float *row = x + r * cols;
    for (int64_t j = 0; j < cols; j++) a[j] += row[j];
  }
  for (int64_t j = 0; j < cols; j++) y[j] = static_cast<float>(mean ? a[j] / rows : a[j]);
}

// One pixel's window over channels [from, c): the first tap strictly above the running maximum (from −∞) wins, as
// in tfjs: NaN never wins, ties keep the earlier tap, a window with no winner passes no gradient.
static void pool_window_grad(const float *x00, const float *x01, const float *x10, const float *x11, const float *g,
                             int64_t from, int64_t c, float *d00, float *d01, float *d10, float *d11) {
  for (int64_t d = from; d < c; d++) {
    float max = -std::numeric_limits<float>::infinity();
    int k = -1;
    const float taps[4] = {x00[d], x01[d], x10[d], x11[d]};
    for (int t = 0; t < 4; t++)
      if (taps[t] > max) {
        max = taps[t];
        k = t;
      }
    d00[d] = k == 0 ? g[d] : 0.f;
    d01[d] = k == 1 ? g[d] : 0.f;
    d10[d] = k == 2 ? g[d] : 0.f;
    d11[d] = k == 3 ? g[d] : 0.f;
  }
}

// The same, eight channels at a time with AVX2 compares and masks (GCC leaves the loop above scalar, ~3 GB/s).
// An ordered > is false for NaN, as the scalar comparison is; a masked-out gradient is +0, as there.
__attribute__((target("avx2"))) static void pool_window_grad_avx2(const float *x00, const float *x01,
                                                                  const float *x10, const float *x11, const float *g,
                                                                  int64_t c, float *d00, float *d01, float *d10,
                                                                  float *d11) {
  const __m256 lowest = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t d = 0;
  for (; d + 8 <= c; d += 8) {
    const __m256 a = _mm256_loadu_ps(x00 + d), b = _mm256_loadu_ps(x01 + d), e = _mm256_loadu_ps(x10 + d);
    const __m256 f = _mm256_loadu_ps(x11 + d), gd = _mm256_loadu_ps(g + d);
    const __m256 w0 = _mm256_cmp_ps(a, lowest, _CMP_GT_OQ);
    __m256 max = _mm256_blendv_ps(lowest, a, w0);
    const __m256 w1 = _mm256_cmp_ps(b, max, _CMP_GT_OQ);
    max = _mm256_blendv_ps(max, b, w1);
    const __m256 w2 = _mm256_cmp_ps(e, max, _CMP_GT_OQ);
    max = _mm256_blendv_ps(max, e, w2);
    const __m256 w3 = _mm256_cmp_ps(f, max, _CMP_GT_OQ);
    // A later winner overrides every earlier one.
    const __m256 after1 = _mm256_or_ps(w2, w3), after0 = _mm256_or_ps(w1, after1);
    _mm256_storeu_ps(d00 + d, _mm256_and_ps(_mm256_andnot_ps(after0, w0), gd));
    _mm256_storeu_ps(d01 + d, _mm256_and_ps(_mm256_andnot_ps(after1, w1), gd));
    _mm256_storeu_ps(d10 + d, _mm256_and_ps(_mm256_andnot_ps(w3, w2), gd));
    _mm256_storeu_ps(d11 + d, _mm256_and_ps(w3, gd));
  }
  pool_window_grad(x00, x01, x10, x11, g, d, c, d00, d01, d10, d11);
}

void max_pool_2x2_grad(const float *x, const float *dy, int64_t n, int64_t h, int64_t w, int64_t c, float *dx) {
  const int64_t ho = h / 2, wo = w / 2;
  if (2 * ho < h || 2 * wo < w) std::memset(dx, 0, sizeof(float) * n * h * w * c);
  const int64_t below = w * c;
  const bool avx2 = __builtin_cpu_supports("avx2");
  const float *g = dy;
  for (int64_t b = 0; b < n; b++)
    for (int64_t yr = 0; yr < ho; yr++)
      for (int64_t yc = 0; yc < wo; yc++, g += c) {
        const int64_t p00 = ((b * h + 2 * yr) * w + 2 * yc) * c, p01 = p00 + c, p10 = p00 + below, p11 = p10 + c;
        if (avx2)
          pool_window_grad_avx2(x + p00, x + p01, x + p10, x + p11, g, c, dx + p00, dx + p01, dx + p10, dx + p11);
        else
          pool_window_grad(x + p00, x + p01, x + p10, x + p11, g, 0, c, dx + p00, dx + p01, dx + p10, dx + p11);
      }
}

}  // namespace fer_dnnl
