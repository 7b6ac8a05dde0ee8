// Logging facade over spdlog. Every line may carry a tag ("job=12 seg=3").
// Every line has the URLs in it redacted (core/redact.h: user:password, ?token= and
// signed-URL signatures), so no caller can log a credential by accident.
//
// Thread safety: safe from any thread.
#pragma once

#include <spdlog/spdlog.h>

#include <functional>
#include <string_view>

namespace modeld::log {

// Sets the global level from "trace", "debug", "info", "warn", "error", "off".
void SetLevel(const std::string& level);
// Sends log lines to stderr (the default).
void Init();
// Hands each log line (formatted, with its newline) to |writer| instead of writing it to
// stderr; nullptr restores stderr. For a live progress display that clears itself before
// a line and draws itself again after. |writer| runs on the logging thread, under the
// log's lock: it must not log. Not for the server (WriteInBackground drops it).
void SetConsoleWriter(std::function<void(std::string_view line)> writer);
// From now on lines are written by a background thread: a caller never waits on stderr
// (a file on a disk busy with downloads can block a write for a long time). When lines
// come faster than they are written, the oldest are dropped. For the server.
void WriteInBackground();

namespace detail {
// Redacts |line| and writes it at |level|.
void Write(spdlog::level::level_enum level, std::string_view line);
}  // namespace detail

template <typename... Args>
void Debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  detail::Write(spdlog::level::debug, fmt::format(fmt, std::forward<Args>(args)...));
}
template <typename... Args>
void Info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  detail::Write(spdlog::level::info, fmt::format(fmt, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!spdlog::should_log(spdlog::level::warn)) return;
  detail::Write(spdlog::level::warn, fmt::format(fmt, std::forward<Args>(args)...));
}
template <typename... Args>
void Error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!spdlog::should_log(spdlog::level::err)) return;
  detail::Write(spdlog::level::err, fmt::format(fmt, std::forward<Args>(args)...));
}

}  // namespace modeld::log
