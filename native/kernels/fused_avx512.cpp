// AVX-512 versions of the fused row-range loops (contracts in fused_isa.h).
// Rows are row-major [rows, channels]. Reductions walk a column strip of up
// to 64 channels (four zmm accumulators, the last vector masked) down the
// block's rows, so the sums stay in registers; strips wider than the tensor's
// channel count just mask off. Apply passes go row by row, 16 channels per
// vector with a masked tail, the per-channel constants reloaded from L1.
// The activation is a template parameter so the inner loops do not branch.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "fused_isa.h"

namespace kiln {
namespace fused_isa {
namespace {

constexpr int kLinear = 0, kRelu = 1, kSigmoid = 2, kTanh = 3;

__mmask16 tailMask(int64_t remaining) {
  if (remaining <= 0) return 0;
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

template <int A>
__m512 derivative(__m512 y, __m512 dy) {
  if (A == kRelu) return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), dy);
  // Same operation order as the portable loops: dy * y * (1 - y), dy * (1 - y * y).
  if (A == kSigmoid) return _mm512_mul_ps(_mm512_mul_ps(dy, y), _mm512_sub_ps(_mm512_set1_ps(1.0f), y));
  if (A == kTanh) return _mm512_mul_ps(dy, _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(y, y)));
  return dy;
}

template <int V>
void statsStrip(int64_t rows, int64_t channels, const float* x, int64_t width, float* center, float* shifted,
                float* squares) {
  __mmask16 m[V];
  __m512 s[V], cen[V], s1[V], q[V];
  for (int v = 0; v < V; ++v) {
    m[v] = tailMask(width - 16 * v);
    s[v] = _mm512_setzero_ps();
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * channels;
    for (int v = 0; v < V; ++v) s[v] = _mm512_add_ps(s[v], _mm512_maskz_loadu_ps(m[v], row + 16 * v));
  }
  const __m512 n = _mm512_set1_ps(static_cast<float>(rows));
  for (int v = 0; v < V; ++v) {
    cen[v] = _mm512_div_ps(s[v], n);
    s1[v] = _mm512_setzero_ps();
    q[v] = _mm512_setzero_ps();
  }
  // Second walk over the block, from cache.
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * channels;
    for (int v = 0; v < V; ++v) {
      const __m512 d = _mm512_maskz_sub_ps(m[v], _mm512_maskz_loadu_ps(m[v], row + 16 * v), cen[v]);
      s1[v] = _mm512_add_ps(s1[v], d);
      q[v] = _mm512_fmadd_ps(d, d, q[v]);
    }
  }
  for (int v = 0; v < V; ++v) {
    _mm512_mask_storeu_ps(center + 16 * v, m[v], cen[v]);
    _mm512_mask_storeu_ps(shifted + 16 * v, m[v], s1[v]);
    _mm512_mask_storeu_ps(squares + 16 * v, m[v], q[v]);
  }
}

void blockStats(int64_t rows, int64_t channels, const float* x, float* center, float* shifted, float* squares) {
  for (int64_t c = 0; c < channels; c += 64) {
    const int64_t width = channels - c < 64 ? channels - c : 64;
    const int vectors = static_cast<int>((width + 15) / 16);
    float* ce = center + c;
    float* sh = shifted + c;
    float* sq = squares + c;
    switch (vectors) {
      case 1: statsStrip<1>(rows, channels, x + c, width, ce, sh, sq); break;
      case 2: statsStrip<2>(rows, channels, x + c, width, ce, sh, sq); break;
      case 3: statsStrip<3>(rows, channels, x + c, width, ce, sh, sq); break;
      default: statsStrip<4>(rows, channels, x + c, width, ce, sh, sq); break;
    }
  }
}

template <int A, int V>
void gradSumsStrip(int64_t rows, int64_t channels, const float* x, const float* y, const float* dy,
                   const float* mean, int64_t width, float* sumG, float* sumGX) {
  __mmask16 m[V];
  __m512 mu[V], sg[V], sgx[V];
  for (int v = 0; v < V; ++v) {
    m[v] = tailMask(width - 16 * v);
    mu[v] = _mm512_maskz_loadu_ps(m[v], mean + 16 * v);
    sg[v] = _mm512_setzero_ps();
    sgx[v] = _mm512_setzero_ps();
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * channels;
    for (int v = 0; v < V; ++v) {
      const int64_t i = o + 16 * v;
      const __m512 yy = A == kLinear ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[v], y + i);
      const __m512 g = derivative<A>(yy, _mm512_maskz_loadu_ps(m[v], dy + i));
      sg[v] = _mm512_add_ps(sg[v], g);
      sgx[v] = _mm512_fmadd_ps(g, _mm512_sub_ps(_mm512_maskz_loadu_ps(m[v], x + i), mu[v]), sgx[v]);
    }
  }
  for (int v = 0; v < V; ++v) {
    _mm512_mask_storeu_ps(sumG + 16 * v, m[v], sg[v]);
    _mm512_mask_storeu_ps(sumGX + 16 * v, m[v], sgx[v]);
  }
}

template <int A>
void gradSums(int64_t rows, int64_t channels, const float* x, const float* y, const float* dy, const float* mean,
              float* sumG, float* sumGX) {
  for (int64_t c = 0; c < channels; c += 64) {
    const int64_t width = channels - c < 64 ? channels - c : 64;
    const int vectors = static_cast<int>((width + 15) / 16);
    const float* yc = A == kLinear ? y : y + c;
    switch (vectors) {
      case 1: gradSumsStrip<A, 1>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
      case 2: gradSumsStrip<A, 2>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
      case 3: gradSumsStrip<A, 3>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
      default: gradSumsStrip<A, 4>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
    }
  }
}

void blockGradSums(int64_t rows, int64_t channels, Activation activation, const float* x, const float* y,
                   const float* dy, const float* mean, float* sumG, float* sumGX) {
  switch (activation) {
    case Activation::Linear: return gradSums<kLinear>(rows, channels, x, y, dy, mean, sumG, sumGX);
    case Activation::Relu: return gradSums<kRelu>(rows, channels, x, y, dy, mean, sumG, sumGX);
    case Activation::Sigmoid: return gradSums<kSigmoid>(rows, channels, x, y, dy, mean, sumG, sumGX);
    case Activation::Tanh: return gradSums<kTanh>(rows, channels, x, y, dy, mean, sumG, sumGX);
  }
}

template <bool Relu>
void affineRows(int64_t rows, int64_t channels, const float* x, const float* center, const float* scale,
                const float* shift, float* out) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * channels;
    float* o = out + r * channels;
    for (int64_t c = 0; c < channels; c += 16) {
      const __mmask16 m = tailMask(channels - c);
      const __m512 centered = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, in + c), _mm512_maskz_loadu_ps(m, center + c));
      __m512 v = _mm512_fmadd_ps(centered, _mm512_maskz_loadu_ps(m, scale + c), _mm512_maskz_loadu_ps(m, shift + c));
      // v > 0 ? v : 0 (NaN to 0); the maskz form avoids GCC 12's false
      // "uninitialized" warning on the unmasked intrinsic.
      if (Relu) v = _mm512_maskz_max_ps(m, v, zero);
      _mm512_mask_storeu_ps(o + c, m, v);
    }
  }
}

void applyAffine(int64_t rows, int64_t channels, Activation activation, const float* x, const float* center,
                 const float* scale, const float* shift, float* out) {
  if (activation == Activation::Relu) affineRows<true>(rows, channels, x, center, scale, shift, out);
  else affineRows<false>(rows, channels, x, center, scale, shift, out);
}

template <int A>
void backwardRows(int64_t rows, int64_t channels, const float* x, const float* y, const float* dy, const float* mean,
                  const float* a, const float* b, const float* d, float* dx) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * channels;
    for (int64_t c = 0; c < channels; c += 16) {
      const __mmask16 m = tailMask(channels - c);
      const int64_t i = o + c;
      const __m512 yy = A == kLinear ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y + i);
      const __m512 g = derivative<A>(yy, _mm512_maskz_loadu_ps(m, dy + i));
      const __m512 centered = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, mean + c));
      const __m512 rest = _mm512_fmadd_ps(centered, _mm512_maskz_loadu_ps(m, b + c), _mm512_maskz_loadu_ps(m, d + c));
      _mm512_mask_storeu_ps(dx + i, m, _mm512_fmadd_ps(g, _mm512_maskz_loadu_ps(m, a + c), rest));
    }
  }
}

void applyBackward(int64_t rows, int64_t channels, Activation activation, const float* x, const float* y,
                   const float* dy, const float* mean, const float* a, const float* b, const float* d, float* dx) {
  switch (activation) {
    case Activation::Linear: return backwardRows<kLinear>(rows, channels, x, y, dy, mean, a, b, d, dx);
    case Activation::Relu: return backwardRows<kRelu>(rows, channels, x, y, dy, mean, a, b, d, dx);
    case Activation::Sigmoid: return backwardRows<kSigmoid>(rows, channels, x, y, dy, mean, a, b, d, dx);
    case Activation::Tanh: return backwardRows<kTanh>(rows, channels, x, y, dy, mean, a, b, d, dx);
  }
}

// Linear or ReLU only (see fused_isa.h); b may be null.
template <bool Relu, bool Sum>
void flatForwardLoop(int64_t count, const float* a, const float* b, float* out) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = tailMask(count - i);
    __m512 v = _mm512_maskz_loadu_ps(m, a + i);
    if (Sum) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
    if (Relu) v = _mm512_maskz_max_ps(m, v, zero);
    _mm512_mask_storeu_ps(out + i, m, v);
  }
}

void flatForward(int64_t count, Activation activation, const float* a, const float* b, float* out) {
  const bool relu = activation == Activation::Relu;
  if (b == nullptr) {
    if (relu) flatForwardLoop<true, false>(count, a, b, out);
    else flatForwardLoop<false, false>(count, a, b, out);
  } else {
    if (relu) flatForwardLoop<true, true>(count, a, b, out);
    else flatForwardLoop<false, true>(count, a, b, out);
  }
}

template <int A>
void flatBackwardLoop(int64_t count, const float* y, const float* dy, float* gradA, bool accumulateA, float* gradB,
                      bool accumulateB) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = tailMask(count - i);
    const __m512 yy = A == kLinear ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y + i);
    const __m512 g = derivative<A>(yy, _mm512_maskz_loadu_ps(m, dy + i));
    if (gradA != nullptr) {
      const __m512 v = accumulateA ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, gradA + i), g) : g;
      _mm512_mask_storeu_ps(gradA + i, m, v);
    }
    if (gradB != nullptr) {
      const __m512 v = accumulateB ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, gradB + i), g) : g;
      _mm512_mask_storeu_ps(gradB + i, m, v);
    }
  }
}

void flatBackward(int64_t count, Activation activation, const float* y, const float* dy, float* gradA,
                  bool accumulateA, float* gradB, bool accumulateB) {
  switch (activation) {
    case Activation::Linear: return flatBackwardLoop<kLinear>(count, y, dy, gradA, accumulateA, gradB, accumulateB);
    case Activation::Relu: return flatBackwardLoop<kRelu>(count, y, dy, gradA, accumulateA, gradB, accumulateB);
    case Activation::Sigmoid:
      return flatBackwardLoop<kSigmoid>(count, y, dy, gradA, accumulateA, gradB, accumulateB);
    case Activation::Tanh: return flatBackwardLoop<kTanh>(count, y, dy, gradA, accumulateA, gradB, accumulateB);
  }
}

void axpy(int64_t count, float alpha, const float* x, float* y) {
  const __m512 k = _mm512_set1_ps(alpha);
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = tailMask(count - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(k, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

}  // namespace

Kernels avx512Kernels() {
  return {blockStats, blockGradSums, applyAffine, applyBackward, flatForward, flatBackward, axpy};
}

}  // namespace fused_isa
}  // namespace kiln
#endif
