// URLs from requests, catalogs, redirects and Hub answers: net::UrlOrigin (which decides
// whether credentials may follow a redirect), net::UrlPathSegments and net::UrlFileName.
//
// Invariants: an origin is "http://" or "https://", a lower-case host and a port, and is
// its own origin; the file name is the last path segment.
#include <algorithm>
#include <string>

#include "fuzz_check.h"
#include "net/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view url = fuzz::AsText(data, size);
  std::string origin = net::UrlOrigin(url);
  if (!origin.empty()) {
    size_t host_at = origin.rfind("://", 5);
    FUZZ_CHECK(origin.rfind("http://", 0) == 0 || origin.rfind("https://", 0) == 0);
    FUZZ_CHECK(host_at != std::string::npos);
    size_t colon = origin.rfind(':');
    FUZZ_CHECK(colon > host_at + 3);  // a host, then ':'
    std::string port = origin.substr(colon + 1);
    FUZZ_CHECK(!port.empty() &&
               std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }));
    FUZZ_CHECK(
        std::none_of(origin.begin(), origin.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    FUZZ_CHECK(net::UrlOrigin(origin) == origin);
    FUZZ_CHECK(net::UrlOrigin(origin + "/x?y#z") == origin);
  }
  auto segments = net::UrlPathSegments(url);
  std::string file = net::UrlFileName(url);
  if (!segments) {
    FUZZ_CHECK(file.empty());
  } else {
    FUZZ_CHECK(file == (segments->empty() ? std::string() : segments->back()));
  }
  return 0;
}
