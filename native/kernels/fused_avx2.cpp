// AVX2 versions of the fused row-range loops (contracts in fused_isa.h), the
// same structure as fused_avx512.cpp with 8 lanes: reductions walk a column
// strip of up to 32 channels (four ymm accumulators, the last vector masked
// through maskload, which zeroes the lanes it skips; whole vectors use plain
// loads and stores) down the
// block's rows, so the sums stay in registers; strips wider than the tensor's
// channel count just mask off. Apply passes go row by row, 8 channels per
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

// Lane i is on when i < remaining.
__m256i tailMask(int64_t remaining) {
  const int32_t n = remaining <= 0 ? 0 : (remaining >= 8 ? 8 : static_cast<int32_t>(remaining));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__m256 load(__m256i m, const float* p) { return _mm256_maskload_ps(p, m); }
void store(float* p, __m256i m, __m256 v) { _mm256_maskstore_ps(p, m, v); }

// Whole vectors use plain loads and stores; only a tail of fewer than 8
// floats is masked. (A vmaskmovps store is microcoded on AMD cores: masking
// every store held these memory-bound loops to 1-2 GB/s on a Zen 3.)
__m256 loadPart(const float* p, int64_t remaining) {
  return remaining >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tailMask(remaining));
}
void storePart(float* p, int64_t remaining, __m256 v) {
  if (remaining >= 8) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, tailMask(remaining), v);
}

// Strip loads: Full when every vector of the strip is whole.
template <bool Full>
__m256 stripLoad(__m256i m, const float* p) {
  return Full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}

template <int A>
__m256 derivative(__m256 y, __m256 dy) {
  if (A == kRelu) return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), dy);
  // Same operation order as the portable loops: dy * y * (1 - y), dy * (1 - y * y).
  if (A == kSigmoid) return _mm256_mul_ps(_mm256_mul_ps(dy, y), _mm256_sub_ps(_mm256_set1_ps(1.0f), y));
  if (A == kTanh) return _mm256_mul_ps(dy, _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(y, y)));
  return dy;
}

template <int V, bool Full>
void statsStrip(int64_t rows, int64_t channels, const float* x, int64_t width, float* center, float* shifted,
                float* squares) {
  __m256i m[V];
  __m256 s[V], cen[V], s1[V], q[V];
  for (int v = 0; v < V; ++v) {
    m[v] = tailMask(width - 8 * v);
    s[v] = _mm256_setzero_ps();
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * channels;
    for (int v = 0; v < V; ++v) s[v] = _mm256_add_ps(s[v], stripLoad<Full>(m[v], row + 8 * v));
  }
  const __m256 n = _mm256_set1_ps(static_cast<float>(rows));
  for (int v = 0; v < V; ++v) {
    cen[v] = _mm256_div_ps(s[v], n);
    s1[v] = _mm256_setzero_ps();
    q[v] = _mm256_setzero_ps();
  }
  // Second walk over the block, from cache.
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * channels;
    for (int v = 0; v < V; ++v) {
      const __m256 d = _mm256_sub_ps(stripLoad<Full>(m[v], row + 8 * v), cen[v]);
      s1[v] = _mm256_add_ps(s1[v], d);
      q[v] = _mm256_fmadd_ps(d, d, q[v]);
    }
  }
  for (int v = 0; v < V; ++v) {
    store(center + 8 * v, m[v], cen[v]);
    store(shifted + 8 * v, m[v], s1[v]);
    store(squares + 8 * v, m[v], q[v]);
  }
}

void blockStats(int64_t rows, int64_t channels, const float* x, float* center, float* shifted, float* squares) {
  for (int64_t c = 0; c < channels; c += 32) {
    const int64_t width = channels - c < 32 ? channels - c : 32;
    const int vectors = static_cast<int>((width + 7) / 8);
    float* ce = center + c;
    float* sh = shifted + c;
    float* sq = squares + c;
    if (width % 8 == 0) {
      switch (vectors) {
        case 1: statsStrip<1, true>(rows, channels, x + c, width, ce, sh, sq); break;
        case 2: statsStrip<2, true>(rows, channels, x + c, width, ce, sh, sq); break;
        case 3: statsStrip<3, true>(rows, channels, x + c, width, ce, sh, sq); break;
        default: statsStrip<4, true>(rows, channels, x + c, width, ce, sh, sq); break;
      }
      continue;
    }
    switch (vectors) {
      case 1: statsStrip<1, false>(rows, channels, x + c, width, ce, sh, sq); break;
      case 2: statsStrip<2, false>(rows, channels, x + c, width, ce, sh, sq); break;
      case 3: statsStrip<3, false>(rows, channels, x + c, width, ce, sh, sq); break;
      default: statsStrip<4, false>(rows, channels, x + c, width, ce, sh, sq); break;
    }
  }
}

template <int A, int V, bool Full>
void gradSumsStrip(int64_t rows, int64_t channels, const float* x, const float* y, const float* dy,
                   const float* mean, int64_t width, float* sumG, float* sumGX) {
  __m256i m[V];
  __m256 mu[V], sg[V], sgx[V];
  for (int v = 0; v < V; ++v) {
    m[v] = tailMask(width - 8 * v);
    mu[v] = load(m[v], mean + 8 * v);
    sg[v] = _mm256_setzero_ps();
    sgx[v] = _mm256_setzero_ps();
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * channels;
    for (int v = 0; v < V; ++v) {
      const int64_t i = o + 8 * v;
      const __m256 yy = A == kLinear ? _mm256_setzero_ps() : stripLoad<Full>(m[v], y + i);
      const __m256 g = derivative<A>(yy, stripLoad<Full>(m[v], dy + i));
      sg[v] = _mm256_add_ps(sg[v], g);
      sgx[v] = _mm256_fmadd_ps(g, _mm256_sub_ps(stripLoad<Full>(m[v], x + i), mu[v]), sgx[v]);
    }
  }
  for (int v = 0; v < V; ++v) {
    store(sumG + 8 * v, m[v], sg[v]);
    store(sumGX + 8 * v, m[v], sgx[v]);
  }
}

template <int A>
void gradSums(int64_t rows, int64_t channels, const float* x, const float* y, const float* dy, const float* mean,
              float* sumG, float* sumGX) {
  for (int64_t c = 0; c < channels; c += 32) {
    const int64_t width = channels - c < 32 ? channels - c : 32;
    const int vectors = static_cast<int>((width + 7) / 8);
    const float* yc = A == kLinear ? y : y + c;
    if (width % 8 == 0) {
      switch (vectors) {
        case 1: gradSumsStrip<A, 1, true>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
        case 2: gradSumsStrip<A, 2, true>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
        case 3: gradSumsStrip<A, 3, true>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
        default: gradSumsStrip<A, 4, true>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
      }
      continue;
    }
    switch (vectors) {
      case 1: gradSumsStrip<A, 1, false>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
      case 2: gradSumsStrip<A, 2, false>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
      case 3: gradSumsStrip<A, 3, false>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
      default: gradSumsStrip<A, 4, false>(rows, channels, x + c, yc, dy + c, mean + c, width, sumG + c, sumGX + c); break;
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
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * channels;
    float* o = out + r * channels;
    for (int64_t c = 0; c < channels; c += 8) {
      const int64_t n = channels - c;
      const __m256 centered = _mm256_sub_ps(loadPart(in + c, n), loadPart(center + c, n));
      __m256 v = _mm256_fmadd_ps(centered, loadPart(scale + c, n), loadPart(shift + c, n));
      if (Relu) v = _mm256_max_ps(v, zero);  // v > 0 ? v : 0, NaN to 0
      storePart(o + c, n, v);
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
    for (int64_t c = 0; c < channels; c += 8) {
      const int64_t n = channels - c;
      const int64_t i = o + c;
      const __m256 yy = A == kLinear ? _mm256_setzero_ps() : loadPart(y + i, n);
      const __m256 g = derivative<A>(yy, loadPart(dy + i, n));
      const __m256 centered = _mm256_sub_ps(loadPart(x + i, n), loadPart(mean + c, n));
      const __m256 rest = _mm256_fmadd_ps(centered, loadPart(b + c, n), loadPart(d + c, n));
      storePart(dx + i, n, _mm256_fmadd_ps(g, loadPart(a + c, n), rest));
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
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t i = 0; i < count; i += 8) {
    const int64_t n = count - i;
    __m256 v = loadPart(a + i, n);
    if (Sum) v = _mm256_add_ps(v, loadPart(b + i, n));
    if (Relu) v = _mm256_max_ps(v, zero);
    storePart(out + i, n, v);
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
  for (int64_t i = 0; i < count; i += 8) {
    const int64_t n = count - i;
    const __m256 yy = A == kLinear ? _mm256_setzero_ps() : loadPart(y + i, n);
    const __m256 g = derivative<A>(yy, loadPart(dy + i, n));
    if (gradA != nullptr) {
      const __m256 v = accumulateA ? _mm256_add_ps(loadPart(gradA + i, n), g) : g;
      storePart(gradA + i, n, v);
    }
    if (gradB != nullptr) {
      const __m256 v = accumulateB ? _mm256_add_ps(loadPart(gradB + i, n), g) : g;
      storePart(gradB + i, n, v);
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
  const __m256 k = _mm256_set1_ps(alpha);
  for (int64_t i = 0; i < count; i += 8) {
    const int64_t n = count - i;
    storePart(y + i, n, _mm256_fmadd_ps(k, loadPart(x + i, n), loadPart(y + i, n)));
  }
}

}  // namespace

Kernels avx2Kernels() {
  return {blockStats, blockGradSums, applyAffine, applyBackward, flatForward, flatBackward, axpy};
}

}  // namespace fused_isa
}  // namespace kiln
#endif
