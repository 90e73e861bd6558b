// The shared library half of symbol_target: functions whose addresses the
// library itself reports, so that a non-PIE executable does not substitute
// the address of its own PLT stub.
#include <cstdio>

extern "C" __attribute__((noinline)) int symbol_target_lib_function(int n) {
  volatile int sum = 0;
  for (int i = 0; i < n; ++i) sum = sum + i * 3;
  return sum;
}

namespace ksight_test {
__attribute__((noinline)) int lib_namespaced(int n) {
  volatile int product = 1;
  for (int i = 1; i < n; ++i) product = product * i;
  return product;
}
}  // namespace ksight_test

extern "C" void symbol_target_lib_report() {
  std::printf("symbol_target_lib_function %p\n",
              reinterpret_cast<void*>(&symbol_target_lib_function));
  std::printf("ksight_test::lib_namespaced(int) %p\n",
              reinterpret_cast<void*>(&ksight_test::lib_namespaced));
}
