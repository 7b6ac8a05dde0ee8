#include "core/log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/redact.h"

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

void WriteInBackground() {
  auto level = spdlog::get_level();
  spdlog::drop("modeld");
  spdlog::init_thread_pool(16384, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "modeld", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  spdlog::register_logger(logger);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
}

namespace detail {
void Write(spdlog::level::level_enum level, std::string_view line) {
  std::string safe =
      line.find("http") == std::string_view::npos && line.find('?') == std::string_view::npos
          ? std::string(line)
          : RedactText(line);
  spdlog::log(level, "{}", safe);
}
}  // namespace detail

void SetLevel(const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); }

}  // namespace modeld::log
