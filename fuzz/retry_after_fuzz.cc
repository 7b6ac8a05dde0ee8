// Retry-After from upstreams (429/503): net::ParseRetryAfter, as delta-seconds or an
// HTTP-date, against three clocks (1970, 2026, 2100).
//
// Invariants: never negative; delta-seconds are capped at a day and do not depend on
// the clock; a date's wait shrinks (never grows) as the clock moves on.
#include <algorithm>
#include <cctype>
#include <chrono>

#include "fuzz_check.h"
#include "net/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using std::chrono::milliseconds;
  std::string_view value = fuzz::AsText(data, size);
  const std::chrono::system_clock::time_point clocks[] = {
      std::chrono::system_clock::from_time_t(0),           // 1970-01-01
      std::chrono::system_clock::from_time_t(1767225600),  // 2026-01-01
      std::chrono::system_clock::from_time_t(4102444800),  // 2100-01-01
  };
  std::optional<milliseconds> waits[3];
  for (int i = 0; i < 3; ++i) {
    waits[i] = net::ParseRetryAfter(value, clocks[i]);
    FUZZ_CHECK(waits[i].has_value() == waits[0].has_value());
    if (waits[i]) FUZZ_CHECK(*waits[i] >= milliseconds(0));
  }
  if (!waits[0]) return 0;
  std::string_view trimmed = value;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
    trimmed.remove_prefix(1);
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
    trimmed.remove_suffix(1);
  bool delta = !trimmed.empty() && std::all_of(trimmed.begin(), trimmed.end(),
                                               [](char c) { return c >= '0' && c <= '9'; });
  if (delta) {
    FUZZ_CHECK(*waits[0] <= milliseconds(86400 * 1000));
    for (const auto& w : waits) FUZZ_CHECK(w == waits[0]);
  } else {
    FUZZ_CHECK(*waits[0] >= *waits[1]);  // the later the clock, the shorter the wait
    FUZZ_CHECK(*waits[1] >= *waits[2]);
  }
  return 0;
}
