#include "engine/rate_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <vector>

namespace modeld::engine {
namespace {

using Clock = RateWindow::Clock;
using std::chrono::milliseconds;

constexpr double kMB = 1'000'000;

TEST(RateWindowTest, SteadyRateThenAStallIsZeroASecondAfterTheLastByte) {
  RateWindow w;  // 3 s
  const Clock::time_point t0{};
  // 10 MB/s in 100 ms ticks for 5 s, then the bytes stop and the ticks go on.
  auto bytes_at = [](int ms) { return static_cast<uint64_t>(std::min(ms, 5'000)) * 10'000; };
  struct Step {
    int ms;
    double bps;
    std::optional<double> eta;  // to 100 MB
  };
  // The speed is what the last 3 s gained, until a whole second passes without a byte:
  // then it is 0 (never a figure from before the stall).
  const std::vector<Step> steps = {
      {0, 0, std::nullopt},
      {50, 0, std::nullopt},  // 50 ms is too short to tell
      {1'000, 10 * kMB, 9.0},
      {5'000, 10 * kMB, 5.0},
      {5'500, 25 * kMB / 3, 50 * kMB / (25 * kMB / 3)},
      {5'900, 21 * kMB / 3, 50 * kMB / (21 * kMB / 3)},
      {6'000, 0, std::nullopt},
      {7'500, 0, std::nullopt},
      {60'000, 0, std::nullopt},
  };
  int ms = 0;
  for (const Step& s : steps) {
    for (; ms <= s.ms; ms += ms < 100 ? 50 : 100) w.Add(t0 + milliseconds(ms), bytes_at(ms));
    SCOPED_TRACE(s.ms);
    EXPECT_NEAR(w.BytesPerSecond(), s.bps, 1e-3);
    auto eta = w.EtaSeconds(uint64_t{100'000'000});
    ASSERT_EQ(eta.has_value(), s.eta.has_value());
    if (eta) {
      EXPECT_NEAR(*eta, *s.eta, 1e-6);
    }
    EXPECT_FALSE(w.EtaSeconds(std::nullopt).has_value());
  }
}

TEST(RateWindowTest, BytesPerSecondOverASpanUsesOnlyItsEnd) {
  RateWindow w(std::chrono::seconds(2));
  const Clock::time_point t0{};
  // 100 MB/s for 1 s, then 10 KB/s.
  for (int ms = 0; ms <= 1500; ms += 100) {
    uint64_t b = ms <= 1000 ? uint64_t(ms) * 100'000 : 100'000'000 + uint64_t(ms - 1000) * 10;
    w.Add(t0 + milliseconds(ms), b);
  }
  EXPECT_NEAR(w.BytesPerSecondOver(milliseconds(300)), 10'000, 1);
  EXPECT_GT(w.BytesPerSecondOver(milliseconds(1000)), 40 * kMB);  // reaches into the fast part
  EXPECT_NEAR(w.BytesPerSecondOver(std::chrono::seconds(10)), 100'005'000 / 1.5, 1);  // oldest
  RateWindow empty;
  EXPECT_EQ(empty.BytesPerSecondOver(milliseconds(300)), 0);
}

TEST(RateWindowTest, KeepsTwoSamplesHoweverOld) {
  RateWindow w(std::chrono::seconds(3));
  const Clock::time_point t0{};
  w.Add(t0, 0);
  w.Add(t0 + std::chrono::seconds(10), 1000);  // sparse ticks (a paused transfer, say)
  EXPECT_DOUBLE_EQ(w.BytesPerSecond(), 100);
  w.Add(t0 + std::chrono::seconds(20), 1000);
  EXPECT_DOUBLE_EQ(w.BytesPerSecond(), 0);
}

TEST(RateWindowTest, NoSpeedWhenTheBytesWentDownOrAfterClear) {
  RateWindow w;
  const Clock::time_point t0{};
  w.Add(t0, 5000);
  w.Add(t0 + milliseconds(500), 0);  // the transfer started over without a Clear
  EXPECT_EQ(w.BytesPerSecond(), 0);
  EXPECT_FALSE(w.EtaSeconds(uint64_t{10'000}).has_value());
  w.Clear();
  EXPECT_EQ(w.BytesPerSecond(), 0);
  w.Add(t0 + milliseconds(600), 0);
  w.Add(t0 + milliseconds(1600), 4000);
  EXPECT_DOUBLE_EQ(w.BytesPerSecond(), 4000);
  EXPECT_DOUBLE_EQ(*w.EtaSeconds(uint64_t{10'000}), 1.5);
  EXPECT_DOUBLE_EQ(*w.EtaSeconds(uint64_t{1'000}), 0);  // past the total: done
}

}  // namespace
}  // namespace modeld::engine
