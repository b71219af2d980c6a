// Detection uses CPUID plus XGETBV: a CPU may report AVX-512 while the OS does
// not save the ZMM registers, and then those instructions must not be used.
#include "cpu_features.h"

#include <atomic>
#include <cstdlib>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define KILN_X86 1
#endif

namespace kiln {
namespace {

#ifdef KILN_X86
unsigned long long readXcr0() {
  unsigned int eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

Isa detectOnce() {
#ifdef KILN_X86
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::Scalar;
  const bool osxsave = (ecx >> 27) & 1;
  const bool fma = (ecx >> 12) & 1;
  const bool avx = (ecx >> 28) & 1;
  if (!osxsave || !avx) return Isa::Scalar;
  const unsigned long long xcr0 = readXcr0();
  const bool ymmState = (xcr0 & 0x6) == 0x6;
  const bool zmmState = (xcr0 & 0xe6) == 0xe6;
  if (!ymmState) return Isa::Scalar;
  if (__get_cpuid_max(0, nullptr) < 7) return Isa::Scalar;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool avx2 = (ebx >> 5) & 1;
  const bool avx512f = (ebx >> 16) & 1;
  const bool avx512dq = (ebx >> 17) & 1;
  const bool avx512bw = (ebx >> 30) & 1;
  const bool avx512vl = (ebx >> 31) & 1;
  if (avx512f && avx512dq && avx512bw && avx512vl && fma && zmmState) return Isa::Avx512;
  if (avx2 && fma) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa initialActive() {
  Isa best = detectedIsa();
  if (const char* env = std::getenv("KILN_ISA")) {
    Isa wanted;
    // An unknown or unsupported request falls back to the best ISA; the
    // addon reports the active ISA through backend() so a typo is visible.
    if (parseIsa(env, &wanted) && static_cast<int>(wanted) <= static_cast<int>(best)) return wanted;
  }
  return best;
}

std::atomic<int>& activeSlot() {
  static std::atomic<int> slot(static_cast<int>(initialActive()));
  return slot;
}

}  // namespace

bool cpuIsAmd() {
#ifdef KILN_X86
  static const bool amd = [] {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
    // "AuthenticAMD", spread over EBX, EDX, ECX.
    return ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u;
  }();
  return amd;
#else
  return false;
#endif
}

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

bool parseIsa(const std::string& name, Isa* out) {
  if (name == "scalar") { *out = Isa::Scalar; return true; }
  if (name == "avx2") { *out = Isa::Avx2; return true; }
  if (name == "avx512") { *out = Isa::Avx512; return true; }
  return false;
}

Isa detectedIsa() {
  static const Isa detected = detectOnce();
  return detected;
}

Isa activeIsa() { return static_cast<Isa>(activeSlot().load(std::memory_order_relaxed)); }

bool setActiveIsa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detectedIsa())) return false;
  activeSlot().store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

}  // namespace kiln
