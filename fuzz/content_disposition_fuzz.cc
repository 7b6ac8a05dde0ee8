// Content-Disposition from upstreams (names a plain URL's file):
// net::ContentDispositionFileName. It must never throw (issue 9: "%zz" once did).
//
// Invariants: the name is no longer than the header; a header without "filename"
// names nothing; a name given as filename*=UTF-8''NAME with NAME percent-encoded byte
// by byte decodes to NAME's bytes.
#include <algorithm>
#include <cctype>
#include <string>

#include "fuzz_check.h"
#include "net/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view value = fuzz::AsText(data, size);
  std::string name = net::ContentDispositionFileName(value);
  FUZZ_CHECK(name.size() <= value.size());
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("filename") == std::string::npos) FUZZ_CHECK(name.empty());

  // Any bytes, fully percent-encoded, come back as they were.
  static const char kHex[] = "0123456789ABCDEF";
  std::string encoded = "attachment; filename*=UTF-8''";
  for (unsigned char c : value.substr(0, 256)) {
    encoded += '%';
    encoded += kHex[c >> 4];
    encoded += kHex[c & 15];
  }
  FUZZ_CHECK(net::ContentDispositionFileName(encoded) == value.substr(0, 256));
  return 0;
}
