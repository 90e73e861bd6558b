// The HTTP endpoint's request handling without a socket: method, path and
// Authorization header from arbitrary bytes (libmicrohttpd parses the request
// line and headers; everything after that is ours).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "export/http_router.h"

using namespace ksight;
using namespace ksight::exporters;

namespace {

// Splits off the text up to the next '\n'.
std::string_view take(std::string_view& in) {
  auto nl = in.find('\n');
  std::string_view head = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  return head;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static core::Registry reg;
  // bcrypt is deliberately slow; the fuzzer checks the routing and parsing,
  // so the password check is a plain comparison here.
  static HttpRouter router(
      reg,
      [] {
        return Readiness{false, "probe x is off\n"};
      },
      {{"alice", "HASH"}}, 0, {},
      [](const std::string& pw, const std::string& hash) { return hash == "HASH" && pw == "pw"; });
  std::string_view in(reinterpret_cast<const char*>(data), size);
  HttpRequest req;
  req.method = take(in);
  req.path = take(in);
  req.authorization = take(in);
  HttpResponse res = router.handle(req);
  if (!res.body || res.status < 200 || res.status > 599 || res.content_type.empty()) std::abort();
  if (res.status == 200 && req.path.substr(0, req.path.find('?')) == "/metrics") {
    auto cred = parse_basic_auth(req.authorization);
    if (!cred || cred->first != "alice" || cred->second != "pw") std::abort();  // auth bypass
  }
  (void)parse_basic_auth(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
