// Formatting of wall-clock times. Thread safety: stateless.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace modeld {

// Seconds since the epoch now (the system clock): what the registry and jobs record.
int64_t UnixSeconds();

// |seconds| since the epoch, in UTC, through strftime's |format|.
std::string FormatUtc(int64_t seconds, const char* format);

// A short span for people: "0.3 s", "2 s", "1 min 30 s", "2 min" (tenths below 10 s
// when not whole seconds).
std::string HumanDuration(std::chrono::milliseconds d);

}  // namespace modeld
