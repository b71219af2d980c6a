// Argument reading for the eager bindings: every check throws a JavaScript
// exception (never aborts) whose message follows one format:
//   "kiln.<function>: expected <what> for '<argument>' but received <what came>"
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace kiln {
namespace addon {

[[noreturn]] void throwTypeError(Napi::Env env, const std::string& function, const std::string& argument,
                                 const std::string& expected, const std::string& received);
[[noreturn]] void throwRangeError(Napi::Env env, const std::string& function, const std::string& argument,
                                  const std::string& expected, const std::string& received);

// A Float32Array argument; with expectedLength >= 0 its length must match.
// The returned pointer stays valid while the array is reachable from JS.
float* float32ArrayArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                            const std::string& argument, int64_t expectedLength);
// Same, or nullptr when the argument is null/undefined.
float* optionalFloat32ArrayArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                                    const std::string& argument, int64_t expectedLength);
int32_t* int32ArrayArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                            const std::string& argument, int64_t expectedLength);

// An integer-valued number in [minimum, maximum].
int64_t integerArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                        const std::string& argument, int64_t minimum, int64_t maximum);
double numberArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                      const std::string& argument);
bool booleanArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                     const std::string& argument);
Napi::Object objectArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                            const std::string& argument);
// An integer-valued property of an options object, in [minimum, maximum];
// a missing property takes fallback when fallback is given (>= minimum).
int64_t integerProperty(Napi::Env env, Napi::Object object, const std::string& function, const char* property,
                        int64_t minimum, int64_t maximum);
int64_t integerPropertyOr(Napi::Env env, Napi::Object object, const std::string& function, const char* property,
                          int64_t minimum, int64_t maximum, int64_t fallback);

// a * b * ... with overflow detection: throws a RangeError naming argument
// when the product exceeds 2^53 (the largest exact JS integer).
int64_t checkedProduct(Napi::Env env, const std::string& function, const std::string& argument,
                       std::initializer_list<int64_t> factors);

}  // namespace addon
}  // namespace kiln
