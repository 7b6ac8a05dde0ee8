// Helpers for engine tests: a scratch directory and a synchronous download runner.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include "core/checksum.h"
#include "core/log.h"
#include "engine/engine.h"
#include "store/store.h"

namespace modeld::testing {

// How much slower than a plain build this one runs: a deadline a user is promised (cancel
// within 200 ms) is checked as promised in the plain build, and this many times as long
// under a sanitizer (ASan, TSan), which slows every allocation and memory access.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kSanitizerSlowdown = 3;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr int kSanitizerSlowdown = 3;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif

// MODELD_LOG_LEVEL=debug shows the engine's request log while a test runs.
inline const bool kLogLevelFromEnv = [] {
  if (const char* level = std::getenv("MODELD_LOG_LEVEL")) {
    spdlog::set_level(spdlog::level::from_str(level));
  }
  return true;
}();

class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("modeld_test_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" +
             info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A store in |dir|/data with its Hub cache in |dir|/hf.
inline std::unique_ptr<store::Store> OpenTestStore(const std::filesystem::path& dir) {
  store::StoreOptions o;
  o.data_dir = dir / "data";
  o.hf_cache = dir / "hf";
  auto st = store::Store::Open(o);
  EXPECT_TRUE(st.has_value()) << st.error().ToString();
  return st.has_value() ? std::move(st.value()) : nullptr;
}

// SHA-256 of a file's contents ("" if it cannot be read). Tests compare digests, not
// megabytes, so a failure prints something readable.
inline std::string FileSha256(const std::filesystem::path& p) {
  if (!std::filesystem::exists(p)) return "<missing>";
  return HashHex(HashAlgorithm::kSha256, ReadFile(p));
}

// Collects a transfer's events and lets the test wait for any condition on them.
class EventLog {
 public:
  engine::EventCallback Callback() {
    return [this](const engine::TransferEvent& ev) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(ev);
      cv_.notify_all();
    };
  }
  // Waits until |pred| holds for some event (checked on every new one).
  bool WaitFor(const std::function<bool(const engine::TransferEvent&)>& pred,
               std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (pred(e)) return true;
      }
      return false;
    });
  }
  engine::TransferEvent WaitTerminal(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    EXPECT_TRUE(WaitFor([](const engine::TransferEvent& e) { return e.terminal(); }, timeout))
        << "no terminal event";
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : events_) {
      if (e.terminal()) return e;
    }
    return {};
  }
  std::vector<engine::TransferEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<engine::TransferEvent> events_;
};

inline engine::TransferEvent Download(engine::DownloadRequest req) {
  engine::Engine eng;
  EventLog log;
  eng.Submit(std::move(req), log.Callback());
  return log.WaitTerminal();
}

}  // namespace modeld::testing
