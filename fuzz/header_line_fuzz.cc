// Response header lines and status lines from upstreams: net::SplitHeaderLine and
// net::ParseStatusLine (libcurl hands these over line by line).
//
// Invariants: a split line gives a lower-case name and a value with no surrounding
// white space, both taken from the line, and a line starting "HTTP/" is never a header;
// a status is 0 (not a status line) or at most 999 and only for lines starting "HTTP/".
#include <algorithm>
#include <cctype>
#include <string>

#include "fuzz_check.h"
#include "net/http.h"

namespace {

bool Trimmed(const std::string& s) {
  return s.empty() || (!std::isspace(static_cast<unsigned char>(s.front())) &&
                       !std::isspace(static_cast<unsigned char>(s.back())));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view line = fuzz::AsText(data, size);
  std::string name, value;
  if (net::SplitHeaderLine(line, &name, &value)) {
    FUZZ_CHECK(line.substr(0, 5) != "HTTP/");
    FUZZ_CHECK(Trimmed(name) && Trimmed(value));
    FUZZ_CHECK(std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    FUZZ_CHECK(name.find(':') == std::string::npos);
    FUZZ_CHECK(name.size() + value.size() < line.size());
    if (!value.empty()) FUZZ_CHECK(line.find(value) != std::string_view::npos);
  }
  int status = net::ParseStatusLine(line);
  FUZZ_CHECK(status >= 0 && status <= 999);
  if (status != 0) FUZZ_CHECK(line.substr(0, 5) == "HTTP/");
  return 0;
}
