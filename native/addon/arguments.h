// Argument reading for the eager bindings: every check throws a JavaScript
// exception (never aborts) whose message follows one format:
//   "kiln.<function>: expected <what> for '<argument>' but received <what came>"
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
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

// An options argument given either as an object or as its integer fields
// packed into an Int32Array of exactly fieldCount entries, in the order of
// `names` (the TypeScript side's pack*Options). Reading one typed array is
// one N-API call where an object's properties took ~150 ns each; both forms
// get the same checks, and the messages name the field.
// It reads the call's arguments in place: keep it within the binding call
// (it refers to `function` and to the arguments, not copies of them).
class OptionsArgument {
 public:
  OptionsArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function, const char* argument,
                  const char* const* names, int fieldCount);
  // Field `field` as an integer in [minimum, maximum]; a missing property
  // takes fallback, or is an error without one (a packed field is never
  // missing).
  int64_t integer(int field, int64_t minimum, int64_t maximum, std::optional<int64_t> fallback) const;
  // A boolean property (missing: false), or a packed 0 / 1.
  bool flag(int field) const;

 private:
  Napi::Env env_;
  const std::string& function_;
  const char* const* names_;
  Napi::Object object_;
  const int32_t* packed_ = nullptr;
};

// a * b * ... with overflow detection: throws a RangeError naming argument
// when the product exceeds 2^53 (the largest exact JS integer).
int64_t checkedProduct(Napi::Env env, const std::string& function, const std::string& argument,
                       std::initializer_list<int64_t> factors);

}  // namespace addon
}  // namespace kiln
