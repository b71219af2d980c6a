// How fast this machine zeroes (and optionally reads) a buffer of a given
// size on 1 or 2 threads: where the rate falls off, if it does, is how much
// of the last level cache the threads really get, which on a shared guest
// can be far less than the CPU's nominal L3 and changes with the neighbours'
// load. It bounds layers whose output is mostly zeros (a strided 1x1
// convolution's backward data writes 4 MiB per resnet20 call at batch 64,
// 3 MiB of it zeros). Not part of the addon or of CI:
//
//   g++ -O2 -mavx512f -pthread scripts/bench/cache-cliff.cpp -o /tmp/cache-cliff
//   (or -mavx2 on a machine without AVX-512)
//   /tmp/cache-cliff [threads=1] [read MiB per call=0]
//
// Prints, per buffer size, the best and mean time of 300 calls (each thread
// zeroes its share with full-vector stores, then sums its share of the read
// buffer), and the zeroing rate. Threads wait at a spin barrier between
// calls, so thread start-up is not timed.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

// 64-byte vectors where the compiler targets AVX-512F, 32-byte ones under
// -mavx2, so the same file measures either kind of machine.
#if defined(__AVX512F__)
using Vector = __m512;
constexpr size_t kLanes = 16;
inline Vector zeroVector() { return _mm512_setzero_ps(); }
inline void storeVector(float* p, Vector v) { _mm512_store_ps(p, v); }
inline Vector loadVector(const float* p) { return _mm512_load_ps(p); }
inline Vector addVectors(Vector a, Vector b) { return _mm512_add_ps(a, b); }
#else
using Vector = __m256;
constexpr size_t kLanes = 8;
inline Vector zeroVector() { return _mm256_setzero_ps(); }
inline void storeVector(float* p, Vector v) { _mm256_store_ps(p, v); }
inline Vector loadVector(const float* p) { return _mm256_load_ps(p); }
inline Vector addVectors(Vector a, Vector b) { return _mm256_add_ps(a, b); }
#endif

void zeroFloats(float* p, size_t n) {
  const Vector zero = zeroVector();
  for (size_t i = 0; i < n; i += kLanes) storeVector(p + i, zero);
}

float sumFloats(const float* p, size_t n) {
  Vector sum = zeroVector();
  for (size_t i = 0; i < n; i += kLanes) sum = addVectors(sum, loadVector(p + i));
  alignas(64) float lanes[kLanes];
  storeVector(lanes, sum);
  float total = 0.0f;
  for (const float lane : lanes) total += lane;
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, atoi(argv[1])) : 1;
  const size_t readMiB = argc > 2 ? static_cast<size_t>(atoi(argv[2])) : 0;
  const size_t sizesMiB[] = {1, 2, 3, 4, 6, 8, 16};
  const size_t mib = 1024 * 1024 / sizeof(float);
  const size_t readFloats = readMiB * mib;
  float* readBuffer = static_cast<float*>(aligned_alloc(64, (readFloats + 16 * threads) * sizeof(float)));
  std::fill(readBuffer, readBuffer + readFloats, 1.0f);
  std::printf("threads %d, %zu MiB read per call\n", threads, readMiB);
  for (const size_t size : sizesMiB) {
    const size_t floats = size * mib;
    float* buffer = static_cast<float*>(aligned_alloc(64, floats * sizeof(float)));
    std::memset(buffer, 1, floats * sizeof(float));
    std::atomic<int> round{0}, finished{0};
    std::atomic<bool> quit{false};
    std::atomic<float> sink{0.0f};
    const auto share = [&](int t) {
      zeroFloats(buffer + floats / threads * t, floats / threads);
      if (readFloats > 0) sink = sink + sumFloats(readBuffer + readFloats / threads * t, readFloats / threads);
    };
    std::vector<std::thread> helpers;
    for (int t = 1; t < threads; ++t) {
      helpers.emplace_back([&, t] {
        for (int seen = 0;;) {
          while (round.load() == seen) {
            if (quit.load()) return;
            _mm_pause();
          }
          seen = round.load();
          share(t);
          ++finished;
        }
      });
    }
    const int calls = 300;
    double best = 1e30, total = 0.0;
    for (int call = 0; call < calls; ++call) {
      const auto start = std::chrono::steady_clock::now();
      finished = 0;
      ++round;
      share(0);
      while (finished.load() < threads - 1) _mm_pause();
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      best = std::min(best, us);
      total += us;
    }
    quit = true;
    for (auto& helper : helpers) helper.join();
    std::printf("%3zu MiB zeroed: best %7.1f us, mean %7.1f us, %5.0f GB/s (best)\n", size, best, total / calls,
                static_cast<double>(floats * sizeof(float)) / best / 1e3);
    free(buffer);
  }
  free(readBuffer);
  return 0;
}
