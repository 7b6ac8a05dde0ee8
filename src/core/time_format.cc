#include "core/time_format.h"

#include <ctime>

namespace modeld {

std::string FormatUtc(int64_t seconds, const char* format) {
  char buf[64];
  std::time_t tt = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

}  // namespace modeld
