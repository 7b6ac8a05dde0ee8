#include "engine/rate_limit.h"

#include <algorithm>

namespace modeld::engine {

void TokenBucket::Refill(Clock::time_point now, uint64_t rate) {
  if (rate == 0) {
    tokens_ = 0;
    started_ = false;
    return;
  }
  const double burst = static_cast<double>(rate) * std::chrono::duration<double>(kBurst).count();
  if (!started_) {
    started_ = true;
    last_ = now;
    tokens_ = burst;
    return;
  }
  if (now <= last_) return;
  double secs = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(burst, tokens_ + secs * static_cast<double>(rate));
}

TokenBucket::Clock::duration TokenBucket::TimeToRefill(uint64_t rate) const {
  if (tokens_ > 0 || rate == 0) return Clock::duration::zero();
  // Just past zero, so that the refill then leaves the bucket non-empty.
  double secs = (-tokens_ + 1) / static_cast<double>(rate);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
}

}  // namespace modeld::engine
