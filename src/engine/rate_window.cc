#include "engine/rate_window.h"

#include <algorithm>

namespace modeld::engine {

void RateWindow::Add(Clock::time_point now, uint64_t done) {
  samples_.emplace_back(now, done);
  while (samples_.size() > 2 && now - samples_.front().first > window_) samples_.pop_front();
}

double RateWindow::BytesPerSecond() const {
  if (samples_.empty()) return 0;
  const auto& [t0, b0] = samples_.front();
  const auto& [t1, b1] = samples_.back();
  // Nothing gained over the last kIdle: stopped, whatever came before.
  for (auto it = samples_.rbegin(); it != samples_.rend(); ++it) {
    if (t1 - it->first >= kIdle) {
      if (it->second == b1) return 0;
      break;
    }
  }
  double secs = std::chrono::duration<double>(t1 - t0).count();
  if (secs > 0.05 && b1 >= b0) return static_cast<double>(b1 - b0) / secs;
  return 0;
}

double RateWindow::BytesPerSecondOver(Clock::duration span) const {
  if (samples_.empty()) return 0;
  const auto& [t1, b1] = samples_.back();
  auto from = samples_.begin();
  for (auto it = samples_.rbegin(); it != samples_.rend(); ++it) {
    if (t1 - it->first >= span) {
      from = std::prev(it.base());
      break;
    }
  }
  double secs = std::chrono::duration<double>(t1 - from->first).count();
  if (secs > 0.05 && b1 >= from->second) return static_cast<double>(b1 - from->second) / secs;
  return 0;
}

std::optional<double> RateWindow::EtaSeconds(std::optional<uint64_t> total) const {
  double bps = BytesPerSecond();
  if (!total || bps <= 0 || samples_.empty()) return std::nullopt;
  uint64_t done = samples_.back().second;
  return static_cast<double>(*total - std::min(*total, done)) / bps;
}

}  // namespace modeld::engine
