#include "core/log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <memory>
#include <mutex>

#include "core/redact.h"

namespace modeld::log {

namespace {

constexpr char kPattern[] = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";

// stderr, unless a console writer takes the lines (SetConsoleWriter).
class ConsoleSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  ConsoleSink() : stderr_(std::make_shared<spdlog::sinks::stderr_color_sink_st>()) {
    stderr_->set_pattern(kPattern);
  }
  // Called without the sink's lock; the writer is read under it.
  void SetWriter(std::function<void(std::string_view)> w) {
    std::lock_guard<std::mutex> lock(mutex_);
    writer_ = std::move(w);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (!writer_) {
      stderr_->log(msg);
      return;
    }
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    writer_(std::string_view(buf.data(), buf.size()));
  }
  void flush_() override { stderr_->flush(); }

 private:
  std::shared_ptr<spdlog::sinks::stderr_color_sink_st> stderr_;
  std::function<void(std::string_view)> writer_;
};

std::shared_ptr<ConsoleSink>& Console() {
  static auto* sink = new std::shared_ptr<ConsoleSink>();  // never destroyed: logs at exit
  return *sink;
}

}  // namespace

void Init() {
  static bool done = false;
  if (done) return;
  done = true;
  Console() = std::make_shared<ConsoleSink>();
  auto logger = std::make_shared<spdlog::logger>("modeld", Console());
  spdlog::register_logger(logger);
  logger->set_pattern(kPattern);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
}

void SetConsoleWriter(std::function<void(std::string_view line)> writer) {
  if (auto& sink = Console()) sink->SetWriter(std::move(writer));
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
