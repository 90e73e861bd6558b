#pragma once
// Test deadlines stretched for slow builds: KSIGHT_TEST_TIME_SCALE (a number,
// default 1) multiplies every wait of the harness. The sanitizer run (make
// sanitize) sets it, since an -O0 ASan agent does the same work several times
// slower; what the tests assert (exact counts, no loss) does not change.
#include <chrono>
#include <cstdlib>

namespace ksight::test {

inline double time_scale() {
  static const double scale = [] {
    const char* v = std::getenv("KSIGHT_TEST_TIME_SCALE");
    double s = v ? std::strtod(v, nullptr) : 1.0;
    return s >= 1.0 ? s : 1.0;
  }();
  return scale;
}

inline std::chrono::milliseconds scaled(std::chrono::milliseconds d) {
  return std::chrono::milliseconds(
      static_cast<long long>(static_cast<double>(d.count()) * time_scale()));
}

}  // namespace ksight::test
