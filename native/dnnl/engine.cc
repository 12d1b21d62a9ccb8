#include "engine.h"

namespace fer_dnnl {

dnnl::engine &cpu() {
  thread_local dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream &cpu_stream() {
  thread_local dnnl::stream s(cpu());
  return s;
}

}  // namespace fer_dnnl
