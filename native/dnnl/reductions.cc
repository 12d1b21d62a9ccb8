#include "reductions.h"

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

void max_pool_2x2_grad(const float *x, const float *dy, int64_t n, int64_t h, int64_t w, int64_t c, float *dx) {
  const int64_t ho = h / 2, wo = w / 2;
  if (2 * ho < h || 2 * wo < w) std::memset(dx, 0, sizeof(float) * n * h * w * c);
  const int64_t below = w * c;
  const float *g = dy;
  for (int64_t b = 0; b < n; b++)
    for (int64_t yr = 0; yr < ho; yr++)
      for (int64_t yc = 0; yc < wo; yc++, g += c) {
        const int64_t p00 = ((b * h + 2 * yr) * w + 2 * yc) * c, p01 = p00 + c, p10 = p00 + below, p11 = p10 + c;
        for (int64_t d = 0; d < c; d++) {
          // −∞ and a strict > as tfjs does: NaN never wins, ties keep the earlier tap.
          float max = -std::numeric_limits<float>::infinity();
          int k = -1;
          const float taps[4] = {x[p00 + d], x[p01 + d], x[p10 + d], x[p11 + d]};
          for (int t = 0; t < 4; t++)
            if (taps[t] > max) {
              max = taps[t];
              k = t;
            }
          dx[p00 + d] = k == 0 ? g[d] : 0.f;
          dx[p01 + d] = k == 1 ? g[d] : 0.f;
          dx[p10 + d] = k == 2 ? g[d] : 0.f;
          dx[p11 + d] = k == 3 ? g[d] : 0.f;
        }
      }
}

}  // namespace fer_dnnl
