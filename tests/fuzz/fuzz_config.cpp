// The config parser and the values flags take: arbitrary bytes must give a
// Config or one error line, never a crash or an exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bpf/attach.h"
#include "config/config.h"
#include "config/units.h"
#include "probes/probe.h"

using namespace ksight;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {  // a config file
      auto c = config::parse_config(text, "fuzz.yaml");
      if (!c) {
        // One line that names the source.
        if (c.error().find('\n') != std::string::npos || c.error().rfind("fuzz.yaml", 0) != 0)
          std::abort();
      } else if (!config::validate(*c, "fuzz.yaml")) {
        std::abort();  // parse_config hands out only valid configs
      }
      break;
    }
    case 1: {  // --duration, --interval, *.interval, *.timeout
      auto d = config::parse_duration_ns(text);
      if (d) (void)config::format_duration(*d);
      break;
    }
    case 2:  // sizes: channel.size, queue.batch_size, otlp.queue_size
      (void)config::parse_size_bytes(text);
      break;
    case 3:  // probe names and --disable-feature values
      (void)probes::find_probe(text);
      (void)probes::closest_probes(text);
      (void)bpf::attach_method_from_string(text);
      break;
  }
  return 0;
}
