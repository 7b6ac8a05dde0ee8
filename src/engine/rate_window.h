// RateWindow: a transfer's speed and ETA from the bytes done over the last few seconds.
//
// The engine adds a sample (time, bytes done) at every progress tick (about ten a
// second). The speed is the bytes gained between the oldest sample still in the window
// and the newest, over the time between them; samples older than the window are
// dropped, keeping at least two. So the figure is honest when bytes stop: it is 0 once
// kIdle has passed without a byte (a second), and never shows a speed from before it.
//
// Pure: the time comes in with each sample (an injected clock). Thread safety: not
// thread-safe; owned by the engine loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

namespace modeld::engine {

class RateWindow {
 public:
  using Clock = std::chrono::steady_clock;

  // No byte gained for this long: the speed is 0.
  static constexpr std::chrono::seconds kIdle{1};

  explicit RateWindow(Clock::duration window = std::chrono::seconds(3)) : window_(window) {}

  // Records |done| bytes at |now| (not earlier than the last sample's time).
  void Add(Clock::time_point now, uint64_t done);
  // Forgets every sample (a restart from scratch, a resume after a pause).
  void Clear() { samples_.clear(); }

  // Bytes a second over the window; 0 with fewer than two samples, when they span 50 ms
  // or less, or when the bytes went down (a restart).
  double BytesPerSecond() const;
  // Bytes a second between the newest sample and the newest one at least |span| before it
  // (the oldest if none is that old); 0 under the same conditions as BytesPerSecond.
  double BytesPerSecondOver(Clock::duration span) const;
  // Seconds until |total| at BytesPerSecond(); nullopt when the total is unknown or
  // nothing moves.
  std::optional<double> EtaSeconds(std::optional<uint64_t> total) const;

 private:
  Clock::duration window_;
  std::deque<std::pair<Clock::time_point, uint64_t>> samples_;
};

}  // namespace modeld::engine
