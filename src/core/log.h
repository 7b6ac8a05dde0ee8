// Logging facade over spdlog. Every line may carry a tag ("job=12 seg=3").
//
// Thread safety: safe from any thread.
#pragma once

#include <spdlog/spdlog.h>

namespace modeld::log {

// Sets the global level from "trace", "debug", "info", "warn", "error", "off".
void SetLevel(const std::string& level);
// Sends log lines to stderr (the default).
void Init();
// From now on lines are written by a background thread: a caller never waits on stderr
// (a file on a disk busy with downloads can block a write for a long time). When lines
// come faster than they are written, the oldest are dropped. For the server.
void WriteInBackground();

template <typename... Args>
void Debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::debug(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void Info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::info(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void Warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::warn(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void Error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::error(fmt, std::forward<Args>(args)...);
}

}  // namespace modeld::log
