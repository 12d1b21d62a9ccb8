// Convolutions on oneDNN for tfjs tensors: activations NHWC, filters HWIO (tfjs' layouts), every buffer a
// pointer into the caller's memory (the wasm heap). Primitives are built once per shape and thread.
#pragma once
#include <cstdint>

namespace fer_dnnl {

// A convolution's shape, as tfjs' computeConv2DInfo gives it.
struct ConvShape {
  int64_t n, h, w, ci, kh, kw, co, ho, wo, sh, sw, dh, dw, pt, pl, pb, pr;
};

// y = conv(x, w) (+ b) (then ReLU); b may be null.
void conv_forward(const ConvShape &s, const float *x, const float *w, const float *b, float *y, bool relu,
                  int threads);
// dx = the gradient of conv(x, w) with respect to x, given dy.
void conv_backward_data(const ConvShape &s, const float *dy, const float *w, float *dx, int threads);
// dw (HWIO) = the gradient with respect to w, given x and dy.
void conv_backward_weights(const ConvShape &s, const float *x, const float *dy, float *dw, int threads);

}  // namespace fer_dnnl
