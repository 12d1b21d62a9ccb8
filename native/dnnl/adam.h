// Adam's update as ml/training/adam.ts computes it in JavaScript: float32 state, each element's arithmetic in
// double in the same order, rounded once on store, so both give the same bytes.
#pragma once
#include <cstdint>

namespace fer_dnnl {

struct AdamSettings {
  double learning_rate, beta1, beta2, epsilon, correction1, correction2;
};

void adam_step(float *w, float *m, float *v, const float *g, int64_t n, const AdamSettings &s);

}  // namespace fer_dnnl
