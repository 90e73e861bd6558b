// The symbolizer tests' target: prints "<function> <address>" for functions
// of its own and of its shared library, then "ready", then waits until its
// stdin closes. Built as a PIE and as a non-PIE executable.
#include <cstdio>

extern "C" void symbol_target_lib_report();

extern "C" __attribute__((noinline)) int symbol_target_main_function(int n) {
  volatile int sum = 0;
  for (int i = 0; i < n; ++i) sum = sum + i;
  return sum;
}

namespace ksight_test {
struct Widget {
  __attribute__((noinline)) static int spin(int n) {
    volatile int x = 7;
    for (int i = 0; i < n; ++i) x = x * 31 + i;
    return x;
  }
};
}  // namespace ksight_test

int main() {
  std::printf("symbol_target_main_function %p\n",
              reinterpret_cast<void*>(&symbol_target_main_function));
  std::printf("ksight_test::Widget::spin(int) %p\n",
              reinterpret_cast<void*>(&ksight_test::Widget::spin));
  symbol_target_lib_report();
  std::printf("ready\n");
  std::fflush(stdout);
  while (std::getchar() != EOF) {
  }
  return symbol_target_main_function(3) + ksight_test::Widget::spin(2) > 0 ? 0 : 1;
}
