// ReLU's gradient in one pass: tfjs computes dy · cast(step(x)) in three (step, cast, multiply).
#pragma once
#include <cstdint>

namespace fer_dnnl {

// dx = dy · s with s = 1 where x > 0, NaN where x is NaN, 0 elsewhere: the values tfjs' wasm Step gives.
void relu_grad(const float *x, const float *dy, int64_t n, float *dx);

}  // namespace fer_dnnl
