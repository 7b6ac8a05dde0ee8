// Checksums from catalogs, requests and Hub listings: modeld::ParseChecksum.
//
// Invariants: an accepted checksum has exactly HashHexLength lower-case hex digits; it
// prints as "algo:hex" and parses back to itself, in any case and with spaces around.
#include <algorithm>
#include <cctype>

#include "core/checksum.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  auto sum = ParseChecksum(fuzz::AsText(data, size));
  if (!sum.has_value()) {
    FUZZ_CHECK(sum.error().code() == Status::Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(sum->hex.size() == HashHexLength(sum->algorithm));
  FUZZ_CHECK(std::all_of(sum->hex.begin(), sum->hex.end(),
                         [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
  std::string printed = sum->ToString();
  auto again = ParseChecksum(printed);
  FUZZ_CHECK(again.has_value() && *again == *sum);
  std::string upper = printed;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  auto shouted = ParseChecksum(" " + upper + "\t");
  FUZZ_CHECK(shouted.has_value() && *shouted == *sum);
  return 0;
}
