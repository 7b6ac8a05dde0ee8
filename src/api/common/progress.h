// The arithmetic every dialect's progress answers share: percentages, decimal megabytes,
// ETA seconds and ISO-8601 times.
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace modeld::api {

// |done| of |total| in percent, one decimal; 100 when |completed| and the total is
// unknown, else 0 without a total.
double Percent(uint64_t done, std::optional<uint64_t> total, bool completed);
// Bytes in decimal megabytes (10^6), two decimals, as the generic API's "MB".
double MegaBytes(uint64_t bytes);
// Seconds left, rounded up; 0 when unknown.
int64_t EtaSeconds(std::optional<double> eta);
// Unix seconds as "2025-08-14T10:35:22.000Z".
std::string Iso8601(int64_t unix_seconds);

}  // namespace modeld::api
