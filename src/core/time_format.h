// Formatting of wall-clock times. Thread safety: stateless.
#pragma once

#include <cstdint>
#include <string>

namespace modeld {

// |seconds| since the epoch, in UTC, through strftime's |format|.
std::string FormatUtc(int64_t seconds, const char* format);

}  // namespace modeld
