#include "matmul.h"

#include <omp.h>

#include "engine.h"

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace fer_dnnl {
namespace {

struct Product {
  dnnl::matmul prim;
  memory::desc a, b, c;
};

// key: batch, m, k, n, transpose_a, transpose_b. A transposed operand is the same bytes read column-major:
// dims stay [batch, rows, cols] of the product's view, the tag says the last two are stored swapped (acb).
Product build(const int64_t *key) {
  const int64_t batch = key[0], m = key[1], k = key[2], n = key[3];
  memory::desc a({batch, m, k}, dt::f32, key[4] ? tag::acb : tag::abc);
  memory::desc b({batch, k, n}, dt::f32, key[5] ? tag::acb : tag::abc);
  memory::desc c({batch, m, n}, dt::f32, tag::abc);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), cpu());
  return {dnnl::matmul(pd), a, b, c};
}

}  // namespace

void matmul(int64_t batch, int64_t m, int64_t k, int64_t n, bool transpose_a, bool transpose_b, const float *a,
            const float *b, float *c, int threads) {
  omp_set_num_threads(threads);
  thread_local std::map<std::vector<int64_t>, Product> cache;
  Product &p = cached(cache, {batch, m, k, n, transpose_a, transpose_b}, build);
  p.prim.execute(cpu_stream(), {{DNNL_ARG_SRC, memory(p.a, cpu(), const_cast<float *>(a))},
                                {DNNL_ARG_WEIGHTS, memory(p.b, cpu(), const_cast<float *>(b))},
                                {DNNL_ARG_DST, memory(p.c, cpu(), c)}});
  cpu_stream().wait();
}

}  // namespace fer_dnnl
