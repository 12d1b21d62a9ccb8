// The machine's own yardstick for the benches: the FP32 rate its cores sustain on a tight multiply-add loop.
#pragma once

namespace fer_dnnl {

// FP32 FLOP/s summed over `threads` OpenMP threads, each running independent multiply-adds for about
// `milliseconds` ms: 16-wide FMAs (2 FLOPs a lane) when `avx512` and the CPU has AVX-512, else 8-wide where it
// has AVX2 and FMA, 4-wide SSE multiplies and adds elsewhere. No memory traffic, so this is the arithmetic peak
// that sgemm and convolutions approach; pass `avx512` where oneDNN's kernels use it (cpu_isa_name below).
double peak_flops(int threads, double milliseconds, bool avx512);

}  // namespace fer_dnnl
