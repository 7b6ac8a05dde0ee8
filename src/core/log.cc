#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace modeld::log {

void Init() {
  static bool done = false;
  if (done) return;
  done = true;
  auto logger = spdlog::stderr_color_mt("modeld");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
}

void SetLevel(const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); }

}  // namespace modeld::log
