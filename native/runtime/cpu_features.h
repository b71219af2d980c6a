// CPU feature detection and the process-wide choice of instruction set.
//
// Kernels with ISA-specific code ask activeIsa() on each call and pick their
// function pointer from it. The active ISA starts as the best one the CPU (and
// the OS, for AVX register state) supports, lowered by the KILN_ISA environment
// variable when set, and can be lowered later by setActiveIsa() so that one
// machine can test every path.
#pragma once

#include <string>

namespace kiln {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isaName(Isa isa);
// Parses "scalar" | "avx2" | "avx512"; returns false for anything else.
bool parseIsa(const std::string& name, Isa* out);

// The best ISA this CPU and OS support, detected once.
Isa detectedIsa();
// The ISA kernels use now.
Isa activeIsa();
// Selects an ISA; fails (returns false) when the CPU does not support it.
bool setActiveIsa(Isa isa);

// Whether CPUID names AMD as the vendor: cache blocking measured best on one
// vendor's cores is not always best on the other's.
bool cpuIsAmd();

}  // namespace kiln
