// The N-API face of conv.cc: buffers are byte offsets into one ArrayBuffer (the wasm heap, so tfjs tensors are
// read and written where they are), each checked against its size before oneDNN touches it.
#include <napi.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <initializer_list>
#include <string>
#include <vector>

#include "conv.h"
#include "matmul.h"
#include "batch_norm.h"
#include "reductions.h"
#include "activation.h"
#include "adam.h"
#include "peak.h"
#include "engine.h"

namespace {

using fer_dnnl::ConvShape;

bool shape_of(const Napi::Value &v, ConvShape &s) {
  if (!v.IsArray()) return false;
  auto a = v.As<Napi::Array>();
  constexpr uint32_t count = sizeof(ConvShape) / sizeof(int64_t);
  if (a.Length() != count) return false;
  int64_t *p = &s.n;
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value e = a[i];
    if (!e.IsNumber()) return false;
    p[i] = e.As<Napi::Number>().Int64Value();
  }
  // Every size positive, pads not negative, and the output size the one the pads give.
  if (s.n < 1 || s.h < 1 || s.w < 1 || s.ci < 1 || s.kh < 1 || s.kw < 1 || s.co < 1 || s.ho < 1 || s.wo < 1 ||
      s.sh < 1 || s.sw < 1 || s.dh < 1 || s.dw < 1 || s.pt < 0 || s.pl < 0 || s.pb < 0 || s.pr < 0)
    return false;
  return (s.h + s.pt + s.pb - ((s.kh - 1) * s.dh + 1)) / s.sh + 1 == s.ho &&
         (s.w + s.pl + s.pr - ((s.kw - 1) * s.dw + 1)) / s.sw + 1 == s.wo;
}

// A float array at `offset` bytes in `heap`, `count` floats long; null (and a JS error) when it does not fit.
float *at(Napi::Env env, Napi::ArrayBuffer &heap, const Napi::Value &offset, int64_t count, const char *what) {
  if (!offset.IsNumber()) {
    Napi::TypeError::New(env, std::string(what) + ": expected a byte offset").ThrowAsJavaScriptException();
    return nullptr;
  }
  int64_t o = offset.As<Napi::Number>().Int64Value();
  if (o < 0 || o % 4 != 0 || o + count * 4 > static_cast<int64_t>(heap.ByteLength())) {
    Napi::RangeError::New(env, std::string(what) + ": outside the buffer").ThrowAsJavaScriptException();
    return nullptr;
  }
  return reinterpret_cast<float *>(static_cast<uint8_t *>(heap.Data()) + o);
}

struct Call {
  Napi::Env env;
  Napi::ArrayBuffer heap;
  ConvShape s{};
  bool ok = true;
};

bool begin(const Napi::CallbackInfo &info, size_t arity, Call &c) {
  if (info.Length() != arity || !info[0].IsArrayBuffer() || !shape_of(info[1], c.s)) {
    Napi::TypeError::New(c.env, "expected (heap: ArrayBuffer, shape: a valid convolution's 17 numbers, ...)")
        .ThrowAsJavaScriptException();
    return false;
  }
  c.heap = info[0].As<Napi::ArrayBuffer>();
  return true;
}

int threads_of(const Napi::Value &v) {
  int t = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : 1;
  return t > 0 ? t : 1;
}

template <typename F>
Napi::Value guarded(Napi::Env env, F body) {
  try {
    body();
  } catch (const dnnl::error &e) {
    Napi::Error::New(env, std::string("oneDNN: ") + e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// convForward(heap, shape, x, w, b | -1, y, relu, threads)
Napi::Value ConvForward(const Napi::CallbackInfo &info) {
  Call c{info.Env(), {}};
  if (!begin(info, 8, c)) return c.env.Undefined();
  const ConvShape &s = c.s;
  float *x = at(c.env, c.heap, info[2], s.n * s.h * s.w * s.ci, "x");
  float *w = x ? at(c.env, c.heap, info[3], s.kh * s.kw * s.ci * s.co, "filter") : nullptr;
  bool bias = info[4].IsNumber() && info[4].As<Napi::Number>().Int64Value() >= 0;
  float *b = w && bias ? at(c.env, c.heap, info[4], s.co, "bias") : nullptr;
  float *y = w && (b || !bias) ? at(c.env, c.heap, info[5], s.n * s.ho * s.wo * s.co, "y") : nullptr;
  if (!y) return c.env.Undefined();
  bool relu = info[6].ToBoolean();
  return guarded(c.env, [&] { fer_dnnl::conv_forward(s, x, w, b, y, relu, threads_of(info[7])); });
}

// convBackwardData(heap, shape, dy, w, dx, threads)
Napi::Value ConvBackwardData(const Napi::CallbackInfo &info) {
  Call c{info.Env(), {}};
  if (!begin(info, 6, c)) return c.env.Undefined();
  const ConvShape &s = c.s;
  float *dy = at(c.env, c.heap, info[2], s.n * s.ho * s.wo * s.co, "dy");
  float *w = dy ? at(c.env, c.heap, info[3], s.kh * s.kw * s.ci * s.co, "filter") : nullptr;
  float *dx = w ? at(c.env, c.heap, info[4], s.n * s.h * s.w * s.ci, "dx") : nullptr;
  if (!dx) return c.env.Undefined();
  return guarded(c.env, [&] { fer_dnnl::conv_backward_data(s, dy, w, dx, threads_of(info[5])); });
}

// convBackwardWeights(heap, shape, x, dy, dw, threads)
Napi::Value ConvBackwardWeights(const Napi::CallbackInfo &info) {
  Call c{info.Env(), {}};
  if (!begin(info, 6, c)) return c.env.Undefined();
  const ConvShape &s = c.s;
  float *x = at(c.env, c.heap, info[2], s.n * s.h * s.w * s.ci, "x");
  float *dy = x ? at(c.env, c.heap, info[3], s.n * s.ho * s.wo * s.co, "dy") : nullptr;
  float *dw = dy ? at(c.env, c.heap, info[4], s.kh * s.kw * s.ci * s.co, "dw") : nullptr;
  if (!dw) return c.env.Undefined();
  return guarded(c.env, [&] { fer_dnnl::conv_backward_weights(s, x, dy, dw, threads_of(info[5])); });
}

// matMul(heap, [batch, m, k, n], transposeA, transposeB, a, b, c, threads)
Napi::Value MatMul(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t d[4] = {0, 0, 0, 0};
  bool shaped = info.Length() == 8 && info[0].IsArrayBuffer() && info[1].IsArray() &&
                info[1].As<Napi::Array>().Length() == 4;
  for (uint32_t i = 0; shaped && i < 4; i++) {
    Napi::Value v = info[1].As<Napi::Array>()[i];
    d[i] = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
    shaped = d[i] > 0;
  }
  if (!shaped) {
    Napi::TypeError::New(env, "expected (heap: ArrayBuffer, [batch, m, k, n] all positive, ...)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto heap = info[0].As<Napi::ArrayBuffer>();
  const int64_t batch = d[0], m = d[1], k = d[2], n = d[3];
  float *a = at(env, heap, info[4], batch * m * k, "a");
  float *b = a ? at(env, heap, info[5], batch * k * n, "b") : nullptr;
  float *c = b ? at(env, heap, info[6], batch * m * n, "c") : nullptr;
  if (!c) return env.Undefined();
  bool ta = info[2].ToBoolean(), tb = info[3].ToBoolean();
  return guarded(env, [&] { fer_dnnl::matmul(batch, m, k, n, ta, tb, a, b, c, threads_of(info[7])); });
}

// batchNorm(heap, rows, channels, x, mean, variance, offset | -1, scale | -1, sizes, epsilon, y, threads):
// `sizes` gives how many values each of mean, variance, offset, scale holds (channels or 1).
Napi::Value BatchNorm(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() != 12 || !info[0].IsArrayBuffer() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[8].IsArray() || info[8].As<Napi::Array>().Length() != 4 || !info[9].IsNumber()) {
    Napi::TypeError::New(env, "expected (heap, rows, channels, x, mean, variance, offset, scale, sizes, epsilon, y, "
                              "threads)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto heap = info[0].As<Napi::ArrayBuffer>();
  const int64_t rows = info[1].As<Napi::Number>().Int64Value(), channels = info[2].As<Napi::Number>().Int64Value();
  int64_t sizes[4];
  for (uint32_t i = 0; i < 4; i++) {
    Napi::Value v = info[8].As<Napi::Array>()[i];
    sizes[i] = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : -1;
  }
  bool ok = rows > 0 && channels > 0;
  for (int64_t size : sizes) ok = ok && (size == 1 || size == channels);
  if (!ok) {
    Napi::RangeError::New(env, "batchNorm: each parameter holds 1 or `channels` values").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  float *x = at(env, heap, info[3], rows * channels, "x");
  float *mean = x ? at(env, heap, info[4], sizes[0], "mean") : nullptr;
  float *variance = mean ? at(env, heap, info[5], sizes[1], "variance") : nullptr;
  auto optional = [&](const Napi::Value &v, int64_t size, const char *what, bool &fine) -> float * {
    if (!fine || !v.IsNumber() || v.As<Napi::Number>().Int64Value() < 0) return nullptr;
    float *p = at(env, heap, v, size, what);
    fine = p != nullptr;
    return p;
  };
  bool fine = variance != nullptr;
  float *offset = optional(info[6], sizes[2], "offset", fine);
  float *scale = optional(info[7], sizes[3], "scale", fine);
  float *y = fine ? at(env, heap, info[10], rows * channels, "y") : nullptr;
  if (!y) return env.Undefined();
  fer_dnnl::ChannelParams p{mean,          variance,      offset,        scale,
                            sizes[0] > 1, sizes[1] > 1, sizes[2] > 1, sizes[3] > 1};
  const float epsilon = info[9].As<Napi::Number>().FloatValue();
  fer_dnnl::batch_norm(x, rows, channels, p, epsilon, y, threads_of(info[11]));
  return env.Undefined();
}

// Reads positive integers from info[from .. from + count); false (and a JS error) when one is not.
bool sizes_of(const Napi::CallbackInfo &info, size_t from, size_t count, int64_t *out) {
  for (size_t i = 0; i < count; i++) {
    Napi::Value v = info[from + i];
    out[i] = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
    if (out[i] < 1) {
      Napi::RangeError::New(info.Env(), "expected positive sizes").ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

// A call (heap, size, size, ..., rest): checks the arity and reads `count` positive sizes after the heap; false
// (and a JS error naming `what`) when they do not hold.
bool heap_call(const Napi::CallbackInfo &info, size_t arity, size_t count, int64_t *sizes, const char *what) {
  if (info.Length() == arity && info[0].IsArrayBuffer() && sizes_of(info, 1, count, sizes)) return true;
  if (!info.Env().IsExceptionPending())
    Napi::TypeError::New(info.Env(), std::string(what) + ": bad arguments").ThrowAsJavaScriptException();
  return false;
}

// A float array argument: where its offset is, how many floats, its name for errors, and where to put it.
struct Buffer {
  size_t index;
  int64_t count;
  const char *name;
  float **out;
};

// Every buffer in the heap, or false (and a JS error naming the first that does not fit).
bool all_at(const Napi::CallbackInfo &info, std::initializer_list<Buffer> buffers) {
  auto heap = info[0].As<Napi::ArrayBuffer>();
  for (const Buffer &b : buffers)
    if (!(*b.out = at(info.Env(), heap, info[b.index], b.count, b.name))) return false;
  return true;
}

// reduceRows(heap, rows, cols, x, y, mean)
Napi::Value ReduceRows(const Napi::CallbackInfo &info) {
  int64_t d[2];
  float *x, *y;
  if (heap_call(info, 6, 2, d, "reduceRows") && all_at(info, {{3, d[0] * d[1], "x", &x}, {4, d[1], "y", &y}}))
    fer_dnnl::reduce_rows(x, d[0], d[1], info[5].ToBoolean(), y);
  return info.Env().Undefined();
}

// maxPool2x2Grad(heap, n, h, w, c, x, dy, dx)
Napi::Value MaxPool2x2Grad(const Napi::CallbackInfo &info) {
  int64_t d[4];
  if (!heap_call(info, 8, 4, d, "maxPool2x2Grad")) return info.Env().Undefined();
  const int64_t n = d[0], h = d[1], w = d[2], c = d[3];
  float *x, *dy, *dx;
  if (h >= 2 && w >= 2 &&
      all_at(info, {{5, n * h * w * c, "x", &x},
                    {6, n * (h / 2) * (w / 2) * c, "dy", &dy},
                    {7, n * h * w * c, "dx", &dx}}))
    fer_dnnl::max_pool_2x2_grad(x, dy, n, h, w, c, dx);
  else if (!info.Env().IsExceptionPending())
    Napi::RangeError::New(info.Env(), "maxPool2x2Grad: h and w must be at least 2").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

// reluGrad(heap, n, x, dy, dx)
Napi::Value ReluGrad(const Napi::CallbackInfo &info) {
  int64_t n;
  float *x, *dy, *dx;
  if (heap_call(info, 5, 1, &n, "reluGrad") && all_at(info, {{2, n, "x", &x}, {3, n, "dy", &dy}, {4, n, "dx", &dx}}))
    fer_dnnl::relu_grad(x, dy, n, dx);
  return info.Env().Undefined();
}

// batchNormTraining(heap, rows, channels, x, gamma, beta, epsilon, y, mean, variance)
Napi::Value BatchNormTraining(const Napi::CallbackInfo &info) {
  int64_t d[2];
  if (!heap_call(info, 10, 2, d, "batchNormTraining")) return info.Env().Undefined();
  if (!info[6].IsNumber()) {
    Napi::TypeError::New(info.Env(), "batchNormTraining: epsilon must be a number").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const int64_t rows = d[0], channels = d[1];
  float *x, *gamma, *beta, *y, *mean, *variance;
  if (all_at(info, {{3, rows * channels, "x", &x},
                    {4, channels, "gamma", &gamma},
                    {5, channels, "beta", &beta},
                    {7, rows * channels, "y", &y},
                    {8, channels, "mean", &mean},
                    {9, channels, "variance", &variance}}))
    fer_dnnl::batch_norm_training(x, rows, channels, gamma, beta, info[6].As<Napi::Number>().FloatValue(), y, mean,
                                  variance);
  return info.Env().Undefined();
}

// batchNormTrainingGrad(heap, rows, channels, x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta)
Napi::Value BatchNormTrainingGrad(const Napi::CallbackInfo &info) {
  int64_t d[2];
  if (!heap_call(info, 12, 2, d, "batchNormTrainingGrad")) return info.Env().Undefined();
  if (!info[8].IsNumber()) {
    Napi::TypeError::New(info.Env(), "batchNormTrainingGrad: epsilon must be a number").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const int64_t rows = d[0], channels = d[1];
  float *x, *dy, *mean, *variance, *gamma, *dx, *dgamma, *dbeta;
  if (all_at(info, {{3, rows * channels, "x", &x},
                    {4, rows * channels, "dy", &dy},
                    {5, channels, "mean", &mean},
                    {6, channels, "variance", &variance},
                    {7, channels, "gamma", &gamma},
                    {9, rows * channels, "dx", &dx},
                    {10, channels, "dgamma", &dgamma},
                    {11, channels, "dbeta", &dbeta}}))
    fer_dnnl::batch_norm_training_grad(x, dy, mean, variance, gamma, rows, channels,
                                       info[8].As<Napi::Number>().FloatValue(), dx, dgamma, dbeta);
  return info.Env().Undefined();
}

// adamStep(w, m, v, g: Float32Array of one length (any buffer, shared ones too), [lr, β1, β2, ε, c1, c2])
Napi::Value AdamStep(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  bool ok = info.Length() == 5 && info[4].IsArray() && info[4].As<Napi::Array>().Length() == 6;
  float *p[4] = {};
  size_t n = 0;
  for (size_t i = 0; ok && i < 4; i++) {
    ok = info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
    if (!ok) break;
    auto a = info[i].As<Napi::Float32Array>();
    if (i == 0) n = a.ElementLength();
    ok = a.ElementLength() == n;
    p[i] = a.Data();
  }
  double s[6] = {};
  for (uint32_t i = 0; ok && i < 6; i++) {
    Napi::Value e = info[4].As<Napi::Array>()[i];
    ok = e.IsNumber();
    if (ok) s[i] = e.As<Napi::Number>().DoubleValue();
  }
  if (!ok) {
    Napi::TypeError::New(env, "adamStep: expected (w, m, v, g: Float32Array of one length, [lr, β1, β2, ε, c1, c2])")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  fer_dnnl::adam_step(p[0], p[1], p[2], p[3], static_cast<int64_t>(n), {s[0], s[1], s[2], s[3], s[4], s[5]});
  return env.Undefined();
}

// meanOfSlots(slots: Float32Array[], examples, mean: Float32Array): every slot at least mean's length
Napi::Value MeanOfSlots(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const auto isFloats = [](const Napi::Value &v) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
  };
  bool ok = info.Length() == 3 && info[0].IsArray() && info[1].IsNumber() && isFloats(info[2]);
  const size_t n = ok ? info[2].As<Napi::Float32Array>().ElementLength() : 0;
  const uint32_t count = ok ? info[0].As<Napi::Array>().Length() : 0;
  std::vector<const float *> slots;
  ok = ok && count > 0 && info[1].As<Napi::Number>().DoubleValue() > 0;
  for (uint32_t i = 0; ok && i < count; i++) {
    Napi::Value slot = info[0].As<Napi::Array>()[i];
    ok = isFloats(slot) && slot.As<Napi::Float32Array>().ElementLength() >= n;
    if (ok) slots.push_back(slot.As<Napi::Float32Array>().Data());
  }
  if (!ok) {
    Napi::TypeError::New(env, "meanOfSlots: expected (slots: Float32Array[] at least mean's length, examples > 0, "
                              "mean: Float32Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  fer_dnnl::mean_of_slots(slots.data(), count, static_cast<int64_t>(n), info[1].As<Napi::Number>().DoubleValue(),
                          info[2].As<Napi::Float32Array>().Data());
  return env.Undefined();
}

// peakFlops(threads, milliseconds): FP32 FLOP/s of a tight FMA loop on `threads` threads for about that long.
Napi::Value PeakFlops(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const bool numbers = info.Length() == 2 && info[0].IsNumber() && info[1].IsNumber();
  const double threads = numbers ? info[0].As<Napi::Number>().DoubleValue() : 0;
  const double ms = numbers ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (!numbers || !(threads >= 1 && threads <= 1024) || threads != static_cast<int>(threads) ||
      !(ms > 0 && ms <= 60000)) {
    Napi::TypeError::New(env, "peakFlops: expected (threads: an integer 1..1024, milliseconds: 0 < ms <= 60000)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // The loop as wide as oneDNN's kernels: the peak they are measured against.
  return Napi::Number::New(env, fer_dnnl::peak_flops(static_cast<int>(threads), ms, fer_dnnl::avx512_kernels()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const dnnl_version_t *v = dnnl_version();
  exports.Set("version", Napi::String::New(env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                                    std::to_string(v->patch)));
  exports.Set("cpuIsa", Napi::String::New(env, fer_dnnl::effective_isa()));
  exports.Set("maxThreads", Napi::Number::New(env, omp_get_max_threads()));
  exports.Set("convForward", Napi::Function::New(env, ConvForward));
  exports.Set("convBackwardData", Napi::Function::New(env, ConvBackwardData));
  exports.Set("convBackwardWeights", Napi::Function::New(env, ConvBackwardWeights));
  exports.Set("matMul", Napi::Function::New(env, MatMul));
  exports.Set("batchNorm", Napi::Function::New(env, BatchNorm));
  exports.Set("reduceRows", Napi::Function::New(env, ReduceRows));
  exports.Set("maxPool2x2Grad", Napi::Function::New(env, MaxPool2x2Grad));
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("batchNormTraining", Napi::Function::New(env, BatchNormTraining));
  exports.Set("batchNormTrainingGrad", Napi::Function::New(env, BatchNormTrainingGrad));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
  exports.Set("meanOfSlots", Napi::Function::New(env, MeanOfSlots));
  exports.Set("peakFlops", Napi::Function::New(env, PeakFlops));
  return exports;
}

}  // namespace

NODE_API_MODULE(fer_dnnl, Init)
