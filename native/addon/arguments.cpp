#include "arguments.h"

#include <cmath>
#include <unordered_map>

namespace kiln {
namespace addon {
namespace {

std::string describe(const Napi::Value& value) {
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsBoolean()) return "a boolean";
  if (value.IsNumber()) {
    const double number = value.As<Napi::Number>().DoubleValue();
    if (std::isnan(number)) return "NaN";
    std::string text = std::to_string(number);
    // Trim "3.000000" to "3" for readability.
    if (number == std::floor(number) && std::fabs(number) < 1e15) text = std::to_string(static_cast<int64_t>(number));
    return text;
  }
  if (value.IsString()) return "a string";
  if (value.IsTypedArray()) {
    const auto array = value.As<Napi::TypedArray>();
    switch (array.TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint8_array: return "a Uint8Array";
      default: return "another TypedArray";
    }
  }
  if (value.IsArray()) return "an Array";
  if (value.IsFunction()) return "a function";
  if (value.IsObject()) return "an object";
  return "an unsupported value";
}

Napi::Value argumentAt(const Napi::CallbackInfo& info, size_t index) {
  return index < info.Length() ? info[index] : info.Env().Undefined();
}

template <typename Element>
Element* typedArrayArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                            const std::string& argument, int64_t expectedLength, napi_typedarray_type type,
                            const char* typeName) {
  Napi::Value value = argumentAt(info, index);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throwTypeError(info.Env(), function, argument, typeName, describe(value));
  }
  // napi_get_typedarray_info gives the data pointer for ArrayBuffer and
  // SharedArrayBuffer backing alike (TypedArray::ArrayBuffer() fails on the
  // latter); a detached buffer is refused whatever the expected length.
  napi_typedarray_type actualType;
  size_t elements = 0;
  void* data = nullptr;
  napi_value backing = nullptr;
  size_t byteOffset = 0;
  if (napi_get_typedarray_info(info.Env(), value, &actualType, &elements, &data, &backing, &byteOffset) != napi_ok) {
    throwTypeError(info.Env(), function, argument, typeName, "an unreadable TypedArray");
  }
  bool detached = false;
  if (napi_is_detached_arraybuffer(info.Env(), backing, &detached) == napi_ok && detached) {
    throwTypeError(info.Env(), function, argument, std::string(typeName) + " over an attached buffer",
                   "a detached buffer");
  }
  const int64_t length = static_cast<int64_t>(elements);
  if (expectedLength >= 0 && length != expectedLength) {
    throwRangeError(info.Env(), function, argument,
                    std::string(typeName) + " of length " + std::to_string(expectedLength),
                    "length " + std::to_string(length));
  }
  if (length > 0 && data == nullptr) {
    throwTypeError(info.Env(), function, argument, std::string(typeName) + " over an attached buffer",
                   "a detached buffer");
  }
  return static_cast<Element*>(data);
}

}  // namespace

void throwTypeError(Napi::Env env, const std::string& function, const std::string& argument,
                    const std::string& expected, const std::string& received) {
  throw Napi::TypeError::New(env, "kiln." + function + ": expected " + expected + " for '" + argument +
                                      "' but received " + received);
}

void throwRangeError(Napi::Env env, const std::string& function, const std::string& argument,
                     const std::string& expected, const std::string& received) {
  throw Napi::RangeError::New(env, "kiln." + function + ": expected " + expected + " for '" + argument +
                                       "' but received " + received);
}

float* float32ArrayArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                            const std::string& argument, int64_t expectedLength) {
  return typedArrayArgument<float>(info, index, function, argument, expectedLength, napi_float32_array,
                                   "a Float32Array");
}

float* optionalFloat32ArrayArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                                    const std::string& argument, int64_t expectedLength) {
  Napi::Value value = argumentAt(info, index);
  if (value.IsNull() || value.IsUndefined()) return nullptr;
  return float32ArrayArgument(info, index, function, argument, expectedLength);
}

int32_t* int32ArrayArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                            const std::string& argument, int64_t expectedLength) {
  return typedArrayArgument<int32_t>(info, index, function, argument, expectedLength, napi_int32_array,
                                     "an Int32Array");
}

namespace {

std::string integerRange(int64_t minimum, int64_t maximum) {
  return "an integer in [" + std::to_string(minimum) + ", " + std::to_string(maximum) + "]";
}

// The messages are built only when a check fails: an eager call reads a
// dozen of these, and building each message up front (several heap
// allocations apiece) was most of a small convolution call's ~6 us.
int64_t checkedInteger(Napi::Env env, const Napi::Value& value, const std::string& function, const char* argument,
                       int64_t minimum, int64_t maximum) {
  if (!value.IsNumber()) throwTypeError(env, function, argument, integerRange(minimum, maximum), describe(value));
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number != std::floor(number) || number < static_cast<double>(minimum) ||
      number > static_cast<double>(maximum)) {
    throwRangeError(env, function, argument, integerRange(minimum, maximum), describe(value));
  }
  return static_cast<int64_t>(number);
}

// Property names as JS strings, made once per environment (the main thread
// and each worker have their own) and kept in a JS array (Node 20's N-API
// cannot reference a string directly): looking a name up by its C string
// makes and internalizes a new JS string every time.
struct PropertyKeys {
  Napi::Reference<Napi::Array> strings;
  std::unordered_map<std::string, uint32_t> index;
};

Napi::Value propertyKey(Napi::Env env, const char* property) {
  PropertyKeys* cache = env.GetInstanceData<PropertyKeys>();
  if (cache == nullptr) {
    cache = new PropertyKeys();
    cache->strings = Napi::Persistent(Napi::Array::New(env));
    env.SetInstanceData(cache);
  }
  Napi::Array strings = cache->strings.Value();
  auto found = cache->index.find(property);
  if (found == cache->index.end()) {
    const uint32_t slot = static_cast<uint32_t>(cache->index.size());
    strings.Set(slot, Napi::String::New(env, property));
    found = cache->index.emplace(property, slot).first;
  }
  return strings.Get(found->second);
}

Napi::Value namedProperty(Napi::Env env, Napi::Object object, const char* property) {
  return object.Get(propertyKey(env, property));
}

}  // namespace

int64_t integerArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                        const std::string& argument, int64_t minimum, int64_t maximum) {
  return checkedInteger(info.Env(), argumentAt(info, index), function, argument.c_str(), minimum, maximum);
}

double numberArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                      const std::string& argument) {
  Napi::Value value = argumentAt(info, index);
  if (!value.IsNumber()) throwTypeError(info.Env(), function, argument, "a finite number", describe(value));
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number)) throwRangeError(info.Env(), function, argument, "a finite number", describe(value));
  return number;
}

bool booleanArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                     const std::string& argument) {
  Napi::Value value = argumentAt(info, index);
  if (!value.IsBoolean()) throwTypeError(info.Env(), function, argument, "a boolean", describe(value));
  return value.As<Napi::Boolean>().Value();
}

Napi::Object objectArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                            const std::string& argument) {
  Napi::Value value = argumentAt(info, index);
  if (!value.IsObject() || value.IsArray() || value.IsTypedArray() || value.IsFunction()) {
    throwTypeError(info.Env(), function, argument, "an options object", describe(value));
  }
  return value.As<Napi::Object>();
}

int64_t integerPropertyOr(Napi::Env env, Napi::Object object, const std::string& function, const char* property,
                          int64_t minimum, int64_t maximum, int64_t fallback) {
  Napi::Value value = namedProperty(env, object, property);
  if (value.IsUndefined()) return fallback;
  return checkedInteger(env, value, function, property, minimum, maximum);
}

int64_t integerProperty(Napi::Env env, Napi::Object object, const std::string& function, const char* property,
                        int64_t minimum, int64_t maximum) {
  Napi::Value value = namedProperty(env, object, property);
  if (value.IsUndefined()) throwTypeError(env, function, property, integerRange(minimum, maximum), "undefined");
  return checkedInteger(env, value, function, property, minimum, maximum);
}

OptionsArgument::OptionsArgument(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                                 const char* argument, const char* const* names, int fieldCount)
    : env_(info.Env()), function_(function), names_(names) {
  Napi::Value value = argumentAt(info, index);
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    packed_ = int32ArrayArgument(info, index, function, argument, fieldCount);
  } else {
    object_ = objectArgument(info, index, function, argument);
  }
}

int64_t OptionsArgument::integer(int field, int64_t minimum, int64_t maximum, std::optional<int64_t> fallback) const {
  const char* name = names_[field];
  if (packed_ == nullptr) {
    return fallback ? integerPropertyOr(env_, object_, function_, name, minimum, maximum, *fallback)
                    : integerProperty(env_, object_, function_, name, minimum, maximum);
  }
  const int64_t value = packed_[field];
  if (value < minimum || value > maximum) throwRangeError(env_, function_, name, integerRange(minimum, maximum), std::to_string(value));
  return value;
}

bool OptionsArgument::flag(int field) const {
  const char* name = names_[field];
  if (packed_ != nullptr) return integer(field, 0, 1, 0) == 1;
  Napi::Value value = namedProperty(env_, object_, name);
  if (value.IsUndefined()) return false;
  if (!value.IsBoolean()) throwTypeError(env_, function_, name, "a boolean", "a non-boolean");
  return value.As<Napi::Boolean>().Value();
}

int64_t checkedProduct(Napi::Env env, const std::string& function, const std::string& argument,
                       std::initializer_list<int64_t> factors) {
  constexpr int64_t kLimit = int64_t(1) << 53;
  int64_t product = 1;
  for (int64_t factor : factors) {
    if (factor < 0) throwRangeError(env, function, argument, "non-negative dimensions", std::to_string(factor));
    if (factor != 0 && product > kLimit / factor) {
      throwRangeError(env, function, argument, "a shape whose element count fits in 2^53",
                      "a shape whose element count overflows");
    }
    product *= factor;
  }
  return product;
}

}  // namespace addon
}  // namespace kiln
