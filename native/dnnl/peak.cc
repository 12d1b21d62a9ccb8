#include "peak.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace fer_dnnl {

namespace {

using Clock = std::chrono::steady_clock;

// Twelve independent accumulators: Zen 3 (and most x86 cores since Haswell) has two FMA pipes of 4 cycles'
// latency, so 8 chains in flight keep both busy and 12 leave slack. Each chain is acc = acc·m + c with m < 1: it
// settles on c / (1 − m), so nothing overflows or turns denormal however long it runs, and without -ffast-math
// the compiler may not fold or reorder the chain away. Returns the lanes' sum so the work is observable.
constexpr int CHAINS = 12;
constexpr int64_t BLOCK = 1 << 14;  // iterations between clock reads: ~3 M FLOP, tens of µs

__attribute__((target("avx2,fma"))) float fma_block(Clock::time_point until, int64_t &flops) {
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  __m256 acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  int64_t blocks = 0;
  do {
    for (int64_t j = 0; j < BLOCK; j++) {
#pragma GCC unroll 12
      for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
    }
    blocks++;
  } while (Clock::now() < until);
  flops = blocks * BLOCK * CHAINS * 8 * 2;
  __m256 s = acc[0];
  for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

// The same chains 16 lanes wide, for CPUs where oneDNN runs its AVX-512 kernels: on cores with full-width
// 512-bit units (Zen 5, Intel's server parts) they do twice the work of AVX2 a cycle, so the AVX2 loop would
// understate the peak those kernels are measured against.
__attribute__((target("avx512f"))) float fma512_block(Clock::time_point until, int64_t &flops) {
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  __m512 acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  int64_t blocks = 0;
  do {
    for (int64_t j = 0; j < BLOCK; j++) {
#pragma GCC unroll 12
      for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
    }
    blocks++;
  } while (Clock::now() < until);
  flops = blocks * BLOCK * CHAINS * 16 * 2;
  __m512 s = acc[0];
  for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

// The same chains as a multiply then an add (1 FLOP each) on SSE, which every x86-64 CPU has.
float sse_block(Clock::time_point until, int64_t &flops) {
  const __m128 m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-6f);
  __m128 acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm_set1_ps(static_cast<float>(i));
  int64_t blocks = 0;
  do {
    for (int64_t j = 0; j < BLOCK; j++) {
#pragma GCC unroll 12
      for (int i = 0; i < CHAINS; i++) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], m), c);
    }
    blocks++;
  } while (Clock::now() < until);
  flops = blocks * BLOCK * CHAINS * 4 * 2;
  __m128 s = acc[0];
  for (int i = 1; i < CHAINS; i++) s = _mm_add_ps(s, acc[i]);
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

volatile float sink;

}  // namespace

double peak_flops(int threads, double milliseconds, bool avx512) {
  __builtin_cpu_init();
  const bool wide = avx512 && __builtin_cpu_supports("avx512f");
  const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  int64_t total = 0;
  float sum = 0;
  Clock::time_point start;
#pragma omp parallel num_threads(threads) reduction(+ : total, sum)
  {
    // One clock for all: every thread starts together and runs until the same moment.
#pragma omp single
    start = Clock::now();
    // (the single's implicit barrier releases every thread at once)
    const auto until = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double, std::milli>(std::max(milliseconds, 0.0)));
    int64_t flops = 0;
    sum += wide ? fma512_block(until, flops) : fma ? fma_block(until, flops) : sse_block(until, flops);
    total += flops;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  sink = sum;
  return static_cast<double>(total) / seconds;
}

}  // namespace fer_dnnl
