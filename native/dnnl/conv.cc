#include "conv.h"

#include <omp.h>

#include <cstring>
#include <string>

#include "engine.h"

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace fer_dnnl {
namespace {

struct Dims {
  memory::dims src, weights, dst, strides, dilates, pad_l, pad_r;
};

Dims dims_of(const ConvShape &s) {
  return {{s.n, s.ci, s.h, s.w}, {s.co, s.ci, s.kh, s.kw}, {s.n, s.co, s.ho, s.wo}, {s.sh, s.sw},
          {s.dh - 1, s.dw - 1},  {s.pt, s.pl},             {s.pb, s.pr}};
}

// Weights as tfjs holds them, [kh, kw, ci, co].
memory::desc user_weights(const Dims &d) { return memory::desc(d.weights, dt::f32, tag::hwio); }
memory::desc nhwc(const memory::dims &dims) { return memory::desc(dims, dt::f32, tag::nhwc); }
memory::desc any(const memory::dims &dims) { return memory::desc(dims, dt::f32, tag::any); }

// The forward descriptor the backward passes take as their hint (and the forward pass itself, without bias).
// `blocked`: src and dst in the layout oneDNN picks rather than tfjs' NHWC (see build_forward).
convolution_forward::primitive_desc forward_pd(const Dims &d, bool bias, bool relu, bool blocked = false) {
  primitive_attr attr;
  if (relu) {
    post_ops ops;
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  const auto src = blocked ? any(d.src) : nhwc(d.src), dst = blocked ? any(d.dst) : nhwc(d.dst);
  auto desc = bias ? convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src,
                                               any(d.weights), memory::desc({d.weights[0]}, dt::f32, tag::a), dst,
                                               d.strides, d.dilates, d.pad_l, d.pad_r)
                   : convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src,
                                               any(d.weights), dst, d.strides, d.dilates, d.pad_l, d.pad_r);
  return convolution_forward::primitive_desc(desc, attr, cpu());
}

// An activation in the primitive's layout when that is not NHWC: a buffer and the reorder to or from tfjs' NHWC.
struct Relaid {
  bool needed = false;
  memory inner;
  reorder move;

  Relaid() = default;
  Relaid(const memory::desc &user, const memory::desc &wanted, bool into) {
    needed = wanted != user;
    if (!needed) return;
    inner = memory(wanted, cpu());
    move = into ? reorder(reorder::primitive_desc(cpu(), user, cpu(), wanted))
                : reorder(reorder::primitive_desc(cpu(), wanted, cpu(), user));
  }
};

// The weights in the primitive's own (blocked) layout: reordered per call, as they change every step.
struct WeightsIn {
  memory::desc user;
  memory blocked;
  bool needed = false;
  reorder to_blocked;

  WeightsIn() = default;
  WeightsIn(const memory::desc &user_md, const memory::desc &wanted) : user(user_md) {
    needed = wanted != user_md;
    if (needed) {
      blocked = memory(wanted, cpu());
      to_blocked = reorder(reorder::primitive_desc(cpu(), user_md, cpu(), wanted));
    }
  }

  memory place(const float *w) {
    memory given(user, cpu(), const_cast<float *>(w));
    if (!needed) return given;
    to_blocked.execute(cpu_stream(), given, blocked);
    return blocked;
  }
};

struct Forward {
  convolution_forward prim;
  memory::desc src, dst, bias;
  WeightsIn weights;
  Relaid src_in, dst_out;
};

struct BackwardData {
  convolution_backward_data prim;
  memory::desc diff_src, diff_dst;
  WeightsIn weights;
  Relaid diff_dst_in, diff_src_out;
};

struct BackwardWeights {
  convolution_backward_weights prim;
  memory::desc src, diff_dst, user;
  memory blocked;  // the primitive's diff_weights, when not HWIO
  reorder to_user;
  bool needed = false;
};

std::vector<int64_t> key_of(const ConvShape &s, int64_t a = 0, int64_t b = 0) {
  const int64_t *p = &s.n;
  std::vector<int64_t> key(p, p + sizeof(ConvShape) / sizeof(int64_t));
  key.push_back(a);
  key.push_back(b);
  return key;
}

// The key's first numbers are the ConvShape, then the flags key_of added.
ConvShape shape_in(const int64_t *key) {
  ConvShape s;
  std::memcpy(&s, key, sizeof(ConvShape));
  return s;
}
constexpr size_t FLAGS = sizeof(ConvShape) / sizeof(int64_t);

// Each pass picks its layouts and implementation by a fixed rule on its output's size (ho*wo pixels) and oneDNN's
// instruction set, never by timing: the same shape on the same set always runs the same code, so the same bytes
// (and the set is in the stage key: engine.h). 0 pixels: never.
struct LayoutRules {
  int64_t forward_blocked_upto;  // forward pass on oneDNN's blocked activations at or below this size
  int64_t data_blocked_above;    // data gradient on blocked activations above this size
  int64_t weights_gemm_upto;     // filter gradient on oneDNN's gemm implementation at or below this size
};

// AVX2: measured on a Zen 3; why, at each builder below.
constexpr LayoutRules AVX2_RULES{144, 144, 144};

// AVX-512 (measured on a Zen 5, one thread a replica, batch 32): NHWC forward passes run brgconv, as fast as or
// faster than the blocked jit (12x12x128->512: 25 ms against 31 in isolation); the blocked data gradient wins from
// 12x12 up (29 against 38 ms) and not at 6x6; the jit filter gradient beats gemm at 6x6x512 (34 against 42 ms) and
// ties at 12x12. Together: 2 replicas training the paper CNN 132 -> 140 images/s (four alternating pairs).
constexpr LayoutRules AVX512_RULES{0, 36, 0};

const LayoutRules &rules() { return avx512_kernels() ? AVX512_RULES : AVX2_RULES; }

Forward build_forward(const int64_t *key) {
  ConvShape s = shape_in(key);
  Dims d = dims_of(s);
  // AVX2: on small outputs jit:avx2 is much slower on NHWC than on its own blocked layout (nChw8c), enough to pay for
  // reordering src in and dst out. One thread, batch 32: 12x12x128->512 96 ms on NHWC against 60, 6x6x512->512
  // 101 against 61 (warm caches; within a training step, reorders included, the two layers gain 10-20 ms of
  // ~160); at 24x24x64->128 (5x5) they are even (81 and 80). The sums run in the same order: the same bytes.
  const bool blocked = s.ho * s.wo <= rules().forward_blocked_upto;
  auto pd = forward_pd(d, key[FLAGS], key[FLAGS + 1], blocked);
  return {convolution_forward(pd),
          nhwc(d.src),
          nhwc(d.dst),
          memory::desc({s.co}, dt::f32, tag::a),
          WeightsIn(user_weights(d), pd.weights_desc()),
          Relaid(nhwc(d.src), pd.src_desc(), true),
          Relaid(nhwc(d.dst), pd.dst_desc(), false)};
}

BackwardData build_backward_data(const int64_t *key) {
  ConvShape s = shape_in(key);
  Dims d = dims_of(s);
  // The data gradient goes the other way: on larger outputs blocked activations win (24x24x128->64, 5x5: 88-93 ms
  // against 94-105 in a training step, reorders included), on small ones NHWC does. Same sums, same bytes.
  const bool blocked = s.ho * s.wo > rules().data_blocked_above;
  auto hint = forward_pd(d, false, false, blocked);
  const auto src = blocked ? any(d.src) : nhwc(d.src), dst = blocked ? any(d.dst) : nhwc(d.dst);
  convolution_backward_data::desc desc(algorithm::convolution_direct, src, any(d.weights), dst, d.strides,
                                       d.dilates, d.pad_l, d.pad_r);
  convolution_backward_data::primitive_desc pd(desc, cpu(), hint);
  return {convolution_backward_data(pd),
          nhwc(d.src),
          nhwc(d.dst),
          WeightsIn(user_weights(d), pd.weights_desc()),
          Relaid(nhwc(d.dst), pd.diff_dst_desc(), true),
          Relaid(nhwc(d.src), pd.diff_src_desc(), false)};
}


// Moves pd on to its first gemm-based implementation; leaves it on its first choice when it offers none.
void prefer_gemm(convolution_backward_weights::primitive_desc &pd) {
  auto first = pd;
  do {
    if (std::string(pd.impl_info_str()).find("gemm") != std::string::npos) return;
  } while (pd.next_impl());
  pd = first;
}

BackwardWeights build_backward_weights(const int64_t *key) {
  Dims d = dims_of(shape_in(key));
  auto hint = forward_pd(d, false, false);
  convolution_backward_weights::desc desc(algorithm::convolution_direct, nhwc(d.src), any(d.weights), nhwc(d.dst),
                                          d.strides, d.dilates, d.pad_l, d.pad_r);
  convolution_backward_weights::primitive_desc pd(desc, cpu(), hint);
  // AVX2: on small outputs oneDNN's first choice, jit:avx2, is slower than its gemm implementation (gemm's diff_weights
  // are plain HWIO, so no reorder either). One thread, batch 64, 3x3: 12x12x128->512 takes 180 ms on jit against
  // 140 on gemm, 6x6x512->512 319 against 187, 6x6x128->128 15 against 10; at 144 pixels and below narrow layers
  // (32->64, 64->64) come out about even. Above, it stops paying: 16x16 depends on the channels (gemm 20 % ahead
  // at 128->256, 15-30 % behind at 32->64), 20x20 and 24x24 are even, 48x48 favours jit. A fixed rule on the
  // shape, never a timing: the same shape always runs the same code, so its gradients are the same bytes run to
  // run (at a given thread count: gemm's bytes, unlike jit's on these layers, change with the threads).
  if (d.dst[2] * d.dst[3] <= rules().weights_gemm_upto) prefer_gemm(pd);
  BackwardWeights b{convolution_backward_weights(pd), pd.src_desc(), pd.diff_dst_desc(), user_weights(d), {}, {}};
  b.needed = pd.diff_weights_desc() != b.user;
  if (b.needed) {
    b.blocked = memory(pd.diff_weights_desc(), cpu());
    b.to_user = reorder(reorder::primitive_desc(cpu(), pd.diff_weights_desc(), cpu(), b.user));
  }
  return b;
}

template <typename T>
using Cache = std::map<std::vector<int64_t>, T>;

memory wrap(const memory::desc &md, const float *p) { return memory(md, cpu(), const_cast<float *>(p)); }

}  // namespace

void conv_forward(const ConvShape &s, const float *x, const float *w, const float *b, float *y, bool relu,
                  int threads) {
  omp_set_num_threads(threads);
  thread_local Cache<Forward> cache;
  Forward &f = cached(cache, key_of(s, b != nullptr, relu), build_forward);
  memory src = wrap(f.src, x), dst = wrap(f.dst, y);
  if (f.src_in.needed) f.src_in.move.execute(cpu_stream(), src, f.src_in.inner);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, f.src_in.needed ? f.src_in.inner : src},
                                       {DNNL_ARG_WEIGHTS, f.weights.place(w)},
                                       {DNNL_ARG_DST, f.dst_out.needed ? f.dst_out.inner : dst}};
  if (b) args.emplace(DNNL_ARG_BIAS, wrap(f.bias, b));
  f.prim.execute(cpu_stream(), args);
  if (f.dst_out.needed) f.dst_out.move.execute(cpu_stream(), f.dst_out.inner, dst);
  cpu_stream().wait();
}

void conv_backward_data(const ConvShape &s, const float *dy, const float *w, float *dx, int threads) {
  omp_set_num_threads(threads);
  thread_local Cache<BackwardData> cache;
  BackwardData &b = cached(cache, key_of(s), build_backward_data);
  memory diff_dst = wrap(b.diff_dst, dy), diff_src = wrap(b.diff_src, dx);
  if (b.diff_dst_in.needed) b.diff_dst_in.move.execute(cpu_stream(), diff_dst, b.diff_dst_in.inner);
  b.prim.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, b.diff_dst_in.needed ? b.diff_dst_in.inner : diff_dst},
                                {DNNL_ARG_WEIGHTS, b.weights.place(w)},
                                {DNNL_ARG_DIFF_SRC, b.diff_src_out.needed ? b.diff_src_out.inner : diff_src}});
  if (b.diff_src_out.needed) b.diff_src_out.move.execute(cpu_stream(), b.diff_src_out.inner, diff_src);
  cpu_stream().wait();
}

void conv_backward_weights(const ConvShape &s, const float *x, const float *dy, float *dw, int threads) {
  omp_set_num_threads(threads);
  thread_local Cache<BackwardWeights> cache;
  BackwardWeights &b = cached(cache, key_of(s), build_backward_weights);
  memory user = wrap(b.user, dw);
  b.prim.execute(cpu_stream(), {{DNNL_ARG_SRC, wrap(b.src, x)},
                                {DNNL_ARG_DIFF_DST, wrap(b.diff_dst, dy)},
                                {DNNL_ARG_DIFF_WEIGHTS, b.needed ? b.blocked : user}});
  if (b.needed) b.to_user.execute(cpu_stream(), b.blocked, user);
  cpu_stream().wait();
}

}  // namespace fer_dnnl
