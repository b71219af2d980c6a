// Number checks the kernel bindings share beyond arguments.h: a finite number
// inside an interval (open or closed at each end), in the same message format
// "kiln.<function>: expected <what> for '<argument>' but received <what came>".
#pragma once

#include <cstdio>
#include <string>

#include "arguments.h"

namespace kiln {
namespace addon {

inline std::string formatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.9g", value);
  return text;
}

struct Interval {
  double low, high;
  bool lowOpen, highOpen;
  std::string describe() const {
    return std::string("a finite number in ") + (lowOpen ? "(" : "[") + formatNumber(low) + ", " +
           formatNumber(high) + (highOpen ? ")" : "]");
  }
  bool contains(double x) const {
    return (lowOpen ? x > low : x >= low) && (highOpen ? x < high : x <= high);
  }
};

inline double numberInInterval(const Napi::CallbackInfo& info, size_t index, const std::string& function,
                               const std::string& argument, const Interval& interval) {
  const double value = numberArgument(info, index, function, argument);
  if (!interval.contains(value)) {
    throwRangeError(info.Env(), function, argument, interval.describe(), formatNumber(value));
  }
  return value;
}

}  // namespace addon
}  // namespace kiln
