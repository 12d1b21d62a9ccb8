// Loops tfjs' wasm backend runs slowly in a training step, for the layouts fer-dag's models give them.
#pragma once
#include <cstdint>

namespace fer_dnnl {

// y[c] = Σ_r x[r, c] (÷ rows for a mean), accumulated in double, rows in order: batch norm's moments and the
// bias and scale gradients (Sum and Mean over every axis but the last).
void reduce_rows(const float *x, int64_t rows, int64_t cols, bool mean, float *y);

// MaxPoolGrad for 2×2 windows with stride 2 and no padding over NHWC x [n, h, w, c]: each dy goes to the first
// strictly greater value of its window in row-major order (tfjs' maxPoolPositions); rows or columns no window
// covers get 0.
void max_pool_2x2_grad(const float *x, const float *dy, int64_t n, int64_t h, int64_t w, int64_t c, float *dx);

}  // namespace fer_dnnl
