// gemm, gemmReference, gemmKernelInfo and measureFmaPeak: the matrix multiply
// kernels and the FMA peak benchmark, as synchronous calls on Float32Arrays.
//
//   gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
//
// Every argument is checked before a kernel runs: each matrix's stored rows
// must fit its array (with the leading dimension as the row stride), and C
// may not share memory with A or B (the kernel reads A and B after writing C).
#include <cstdint>
#include <string>

#include "../kernels/fma_peak.h"
#include "../kernels/gemm.h"
#include "../kernels/gemm_microkernels.h"
#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "arguments.h"
#include "bindings.h"

namespace kiln {
namespace addon {
namespace {

constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

struct MatrixView {
  float* data;
  int64_t length;
};

// A row-major matrix of `rows` x `columns` stored with row stride `ld`: the
// array must hold (rows - 1) * ld + columns elements.
MatrixView matrixArgument(const Napi::CallbackInfo& info, const std::string& function, size_t arrayIndex,
                          const std::string& arrayName, size_t ldIndex, const std::string& ldName, int64_t rows,
                          int64_t columns, const std::string& shapeText) {
  Napi::Env env = info.Env();
  const int64_t ld = integerArgument(info, ldIndex, function, ldName, 1, kMaxSafeInteger);
  if (ld < columns) {
    throwRangeError(env, function, ldName,
                    "an integer >= " + std::to_string(columns) + " (the row width of " + arrayName + ", " +
                        shapeText + ")",
                    std::to_string(ld));
  }
  const int64_t span = checkedProduct(env, function, ldName, {rows - 1, ld});
  if (span > kMaxSafeInteger - columns) {
    throwRangeError(env, function, ldName, "a matrix extent that fits in 2^53", "an overflowing extent");
  }
  const int64_t needed = span + columns;
  float* data = float32ArrayArgument(info, arrayIndex, function, arrayName, -1);
  const int64_t length = static_cast<int64_t>(info[arrayIndex].As<Napi::Float32Array>().ElementLength());
  if (length < needed) {
    throwRangeError(env, function, arrayName,
                    "a Float32Array of at least " + std::to_string(needed) + " elements (" + shapeText +
                        " with " + ldName + " " + std::to_string(ld) + ")",
                    "length " + std::to_string(length));
  }
  return MatrixView{data, length};
}

bool overlaps(const MatrixView& a, const MatrixView& b) {
  const auto aBegin = reinterpret_cast<uintptr_t>(a.data);
  const auto bBegin = reinterpret_cast<uintptr_t>(b.data);
  const uintptr_t aEnd = aBegin + static_cast<uintptr_t>(a.length) * sizeof(float);
  const uintptr_t bEnd = bBegin + static_cast<uintptr_t>(b.length) * sizeof(float);
  return a.length > 0 && b.length > 0 && aBegin < bEnd && bBegin < aEnd;
}

std::string shapeOf(const char* name, int64_t rows, int64_t columns) {
  return name + std::string(" stored as ") + std::to_string(rows) + " x " + std::to_string(columns);
}

template <void (*Kernel)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                         int64_t, float, float*, int64_t)>
Napi::Value gemmCall(const Napi::CallbackInfo& info, const std::string& function) {
  Napi::Env env = info.Env();
  const bool transA = booleanArgument(info, 0, function, "transA");
  const bool transB = booleanArgument(info, 1, function, "transB");
  const int64_t M = integerArgument(info, 2, function, "M", 1, kMaxSafeInteger);
  const int64_t N = integerArgument(info, 3, function, "N", 1, kMaxSafeInteger);
  const int64_t K = integerArgument(info, 4, function, "K", 1, kMaxSafeInteger);
  const float alpha = static_cast<float>(numberArgument(info, 5, function, "alpha"));
  // A is stored M x K, or K x M when transposed; likewise B.
  const int64_t aRows = transA ? K : M;
  const int64_t aColumns = transA ? M : K;
  const int64_t bRows = transB ? N : K;
  const int64_t bColumns = transB ? K : N;
  const MatrixView A = matrixArgument(info, function, 6, "A", 7, "lda", aRows, aColumns, shapeOf("A", aRows, aColumns));
  const MatrixView B = matrixArgument(info, function, 8, "B", 9, "ldb", bRows, bColumns, shapeOf("B", bRows, bColumns));
  const float beta = static_cast<float>(numberArgument(info, 10, function, "beta"));
  const MatrixView C = matrixArgument(info, function, 11, "C", 12, "ldc", M, N, shapeOf("C", M, N));
  if (overlaps(C, A)) throwRangeError(env, function, "C", "an array that shares no memory with A", "an overlapping view");
  if (overlaps(C, B)) throwRangeError(env, function, "C", "an array that shares no memory with B", "an overlapping view");
  const int64_t lda = info[7].As<Napi::Number>().Int64Value();
  const int64_t ldb = info[9].As<Napi::Number>().Int64Value();
  const int64_t ldc = info[12].As<Napi::Number>().Int64Value();
  Kernel(transA, transB, M, N, K, alpha, A.data, lda, B.data, ldb, beta, C.data, ldc);
  return env.Undefined();
}

Napi::Value gemmBinding(const Napi::CallbackInfo& info) { return gemmCall<gemm>(info, "gemm"); }

Napi::Value gemmReferenceBinding(const Napi::CallbackInfo& info) {
  return gemmCall<gemmReference>(info, "gemmReference");
}

Isa isaArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function) {
  Napi::Env env = info.Env();
  const std::string expected = "one of 'scalar', 'avx2', 'avx512'";
  if (index >= info.Length() || !info[index].IsString()) throwTypeError(env, function, "isa", expected, "a non-string");
  const std::string name = info[index].As<Napi::String>().Utf8Value();
  Isa isa;
  if (!parseIsa(name, &isa)) throwRangeError(env, function, "isa", expected, "'" + name + "'");
  if (static_cast<int>(isa) > static_cast<int>(detectedIsa())) {
    throwRangeError(env, function, "isa",
                    std::string("an ISA this CPU supports (up to '") + isaName(detectedIsa()) + "')",
                    "'" + name + "'");
  }
  return isa;
}

// The microkernel and blocking gemm uses now (for benchmark reports).
Napi::Value gemmKernelInfoBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GemmMicrokernel& kernel = gemmMicrokernelFor(activeIsa());
  const GemmBlocking blocking = gemmBlockingFor(kernel);
  Napi::Object result = Napi::Object::New(env);
  result.Set("name", kernel.name);
  result.Set("mr", kernel.mr);
  result.Set("nr", kernel.nr);
  result.Set("kc", static_cast<double>(blocking.kc));
  result.Set("mc", static_cast<double>(blocking.mc));
  result.Set("nc", static_cast<double>(blocking.nc));
  return result;
}

// measureFmaPeak(isa, threads, milliseconds) -> GFLOP/s
Napi::Value measureFmaPeakBinding(const Napi::CallbackInfo& info) {
  const std::string function = "measureFmaPeak";
  const Isa isa = isaArgument(info, 0, function);
  const int64_t threads = integerArgument(info, 1, function, "threads", 1, 256);
  const int64_t milliseconds = integerArgument(info, 2, function, "milliseconds", 1, 10000);
  return Napi::Number::New(info.Env(), measureFmaPeak(isa, static_cast<int>(threads), static_cast<double>(milliseconds)));
}

}  // namespace

void registerGemmBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, gemmBinding, "gemm"));
  exports.Set("gemmReference", Napi::Function::New(env, gemmReferenceBinding, "gemmReference"));
  exports.Set("gemmKernelInfo", Napi::Function::New(env, gemmKernelInfoBinding, "gemmKernelInfo"));
  exports.Set("measureFmaPeak", Napi::Function::New(env, measureFmaPeakBinding, "measureFmaPeak"));
}

}  // namespace addon
}  // namespace kiln
