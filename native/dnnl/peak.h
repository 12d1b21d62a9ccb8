// The machine's own yardstick for the benches: the FP32 rate its cores sustain on a tight multiply-add loop.
#pragma once

namespace fer_dnnl {

// FP32 FLOP/s summed over `threads` OpenMP threads, each running independent multiply-adds for about
// `milliseconds` ms: 8-wide FMAs (2 FLOPs a lane) where the CPU has AVX2 and FMA, 4-wide SSE multiplies and
// adds elsewhere. No memory traffic, so this is the arithmetic peak that sgemm and convolutions approach.
double peak_flops(int threads, double milliseconds);

}  // namespace fer_dnnl
