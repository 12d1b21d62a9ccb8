// Adam's update as ml/training/adam.ts computes it in JavaScript: float32 state, each element's arithmetic in
// double in the same order, rounded once on store, so both give the same bytes.
#pragma once
#include <cstdint>

namespace fer_dnnl {

struct AdamSettings {
  double learning_rate, beta1, beta2, epsilon, correction1, correction2;
};

void adam_step(float *w, float *m, float *v, const float *g, int64_t n, const AdamSettings &s);

// The replicas' mean gradient as ml/training/replica-worker.ts sums it: slot after slot in float, then divided
// in double by the batch's example count and rounded once (n values from each slot's start).
void mean_of_slots(const float *const *slots, int64_t count, int64_t n, double examples, float *mean);

}  // namespace fer_dnnl
