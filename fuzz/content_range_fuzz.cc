// Content-Range from upstreams: net::ParseContentRange.
//
// Invariants: first <= last, and last < total when the total is known; the range prints
// as "bytes first-last/total" (or "/*") and parses back to itself.
#include <string>

#include "fuzz_check.h"
#include "net/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  auto cr = net::ParseContentRange(fuzz::AsText(data, size));
  if (!cr) return 0;
  FUZZ_CHECK(cr->first <= cr->last);
  if (cr->total) FUZZ_CHECK(cr->last < *cr->total);
  std::string printed = "bytes " + std::to_string(cr->first) + "-" + std::to_string(cr->last) +
                        "/" + (cr->total ? std::to_string(*cr->total) : "*");
  auto again = net::ParseContentRange(printed);
  FUZZ_CHECK(again && again->first == cr->first && again->last == cr->last &&
             again->total == cr->total);
  return 0;
}
