// Batched matrix products for tfjs' BatchMatMul: C[b] = op(A[b]) · op(B[b]), row-major, op a transpose or not.
#pragma once
#include <cstdint>

namespace fer_dnnl {

void matmul(int64_t batch, int64_t m, int64_t k, int64_t n, bool transpose_a, bool transpose_b, const float *a,
            const float *b, float *c, int threads);

}  // namespace fer_dnnl
