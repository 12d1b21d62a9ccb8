// The N-API face of conv.cc: buffers are byte offsets into one ArrayBuffer (the wasm heap, so tfjs tensors are
// read and written where they are), each checked against its size before oneDNN touches it.
#include <napi.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <string>

#include "conv.h"

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const dnnl_version_t *v = dnnl_version();
  exports.Set("version", Napi::String::New(env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                                    std::to_string(v->patch)));
  exports.Set("maxThreads", Napi::Number::New(env, omp_get_max_threads()));
  exports.Set("convForward", Napi::Function::New(env, ConvForward));
  exports.Set("convBackwardData", Napi::Function::New(env, ConvBackwardData));
  exports.Set("convBackwardWeights", Napi::Function::New(env, ConvBackwardWeights));
  return exports;
}

}  // namespace

NODE_API_MODULE(fer_dnnl, Init)
