// The oneDNN engine and stream of the calling thread, and the per-thread caches of primitives built on them.
#pragma once
#include <map>
#include <string>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

namespace fer_dnnl {

// One engine and stream per calling thread: tfjs replicas are worker threads, each with its own shapes in
// flight, and oneDNN objects are not meant to be shared between threads that execute at once.
dnnl::engine &cpu();
dnnl::stream &cpu_stream();

// The instruction set oneDNN's kernels use on this CPU (capped by DNNL_MAX_CPU_ISA), as oneDNN spells it in that
// variable, lower case: "avx2", "avx512_core_bf16", …. Kernels for another set sum in another order, so trained
// weights differ from one to the next: the backend's name in a stage key carries it.
std::string effective_isa();
// Whether that set is one of the AVX-512 ones: the convolutions' layout rules (conv.cc) and the peak loop's width
// (peak.h) follow it.
bool avx512_kernels();

// Primitives by the numbers that define them, built on first use in each thread.
template <typename T>
T &cached(std::map<std::vector<int64_t>, T> &cache, const std::vector<int64_t> &key, T (*build)(const int64_t *)) {
  auto found = cache.find(key);
  if (found != cache.end()) return found->second;
  return cache.emplace(key, build(key.data())).first->second;
}

}  // namespace fer_dnnl
