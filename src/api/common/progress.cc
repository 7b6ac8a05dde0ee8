#include "api/common/progress.h"

#include <algorithm>
#include <cmath>

#include "core/time_format.h"

namespace modeld::api {

double Percent(uint64_t done, std::optional<uint64_t> total, bool completed) {
  if (total && *total > 0) {
    double pct = 100.0 * static_cast<double>(done) / static_cast<double>(*total);
    return std::round(pct * 10) / 10;
  }
  return completed ? 100.0 : 0.0;
}

double MegaBytes(uint64_t bytes) {
  return std::round(static_cast<double>(bytes) / 1e6 * 100) / 100;
}

int64_t EtaSeconds(std::optional<double> eta) {
  return eta ? static_cast<int64_t>(std::ceil(std::max(0.0, *eta))) : 0;
}

std::string Iso8601(int64_t unix_seconds) {
  return FormatUtc(unix_seconds, "%Y-%m-%dT%H:%M:%S.000Z");
}

}  // namespace modeld::api
