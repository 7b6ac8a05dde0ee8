// Link headers from the Hub's paginated listings: net::NextLink.
//
// Invariants: the next URL is empty or was written between '<' and '>' in the header,
// holds no '>', and the header says rel="next" (or rel=next) after it.
#include <string>

#include "fuzz_check.h"
#include "net/fetch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string header(fuzz::AsText(data, size));
  std::string next = net::NextLink(header);
  if (next.empty()) return 0;
  size_t at = header.find("<" + next + ">");
  FUZZ_CHECK(at != std::string::npos);
  FUZZ_CHECK(next.find('>') == std::string::npos);
  std::string after = header.substr(at);
  FUZZ_CHECK(after.find("rel=\"next\"") != std::string::npos ||
             after.find("rel=next") != std::string::npos);
  return 0;
}
