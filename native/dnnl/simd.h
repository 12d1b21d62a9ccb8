// An AVX2 and a baseline build of a loop, picked once at load time by the CPU (GCC's function multiversioning):
// the addon runs on any x86-64, and where AVX2 is there its plain C++ loops go four doubles or eight floats a
// vector. -ffp-contract=off (binding.gyp) holds in both builds, so no multiply-add is fused and both give the
// same bytes.
#pragma once

#define FER_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
