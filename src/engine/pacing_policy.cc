#include "engine/pacing_policy.h"

#include <algorithm>

namespace modeld::engine {

std::optional<int> PickSlowConnection(const std::vector<ConnRate>& measured, double best_rate,
                                      const HedgeParams& p) {
  std::optional<int> pick;
  double pick_rate = 0;
  for (size_t i = 0; i < measured.size(); ++i) {
    const ConnRate& c = measured[i];
    if (c.hedge) continue;
    std::vector<double> others;
    for (size_t j = 0; j < measured.size(); ++j) {
      if (j != i) others.push_back(measured[j].bytes_per_second);
    }
    double reference = best_rate;
    if (static_cast<int>(others.size()) >= p.min_siblings) {
      auto mid = others.begin() + static_cast<std::ptrdiff_t>(others.size() / 2);
      std::nth_element(others.begin(), mid, others.end());
      reference = *mid;
    }
    if (reference < p.min_reference) continue;
    if (c.bytes_per_second * p.ratio >= reference) continue;
    double left = static_cast<double>(c.left);
    double gain = left / std::max(c.bytes_per_second, 1.0) - left / reference;
    if (gain < p.min_gain_seconds) continue;
    if (!pick || c.bytes_per_second < pick_rate) {
      pick = c.worker;
      pick_rate = c.bytes_per_second;
    }
  }
  return pick;
}

RampState NextRampStep(RampState s, double rate, int planned, uint64_t cap) {
  if (s.done) return s;
  if (cap > 0 && rate >= 0.9 * static_cast<double>(cap)) {
    // The limit is met: more connections would only wait on it. Measure afresh later.
    s.rate_before = 0;
    s.previous = 0;
    return s;
  }
  if (s.previous > 0 && rate < s.rate_before * kRampGain) {
    s.done = true;
    if (rate < s.rate_before * kRampNoGain) s.limit = s.previous;
    return s;
  }
  if (s.limit >= planned) {
    s.done = true;
    return s;
  }
  s.previous = s.limit;
  s.rate_before = rate;
  s.limit = std::min(planned, s.limit * 2);
  return s;
}

}  // namespace modeld::engine
