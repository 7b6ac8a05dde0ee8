#include "engine/pacing_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace modeld::engine {
namespace {

constexpr double kMBps = 1'000'000;
constexpr uint64_t kPieceMiB = 1 << 20;

std::vector<ConnRate> Siblings(int n, double rate, uint64_t left = 8 * kPieceMiB) {
  std::vector<ConnRate> v;
  for (int i = 1; i <= n; ++i) v.push_back({i, rate, left, false});
  return v;
}

TEST(PickSlowConnectionTest, OneConnectionFarBelowItsSiblingsIsPicked) {
  auto v = Siblings(15, 8 * kMBps);
  v.push_back({16, 10'000, 4 * kPieceMiB, false});  // 10 KB/s from the middle of the file
  EXPECT_EQ(PickSlowConnection(v, 8 * kMBps), 16);
}

TEST(PickSlowConnectionTest, OrdinarySpreadIsLeftAlone) {
  auto v = Siblings(15, 8 * kMBps);
  v.push_back({16, 2.5 * kMBps, 4 * kPieceMiB, false});  // a third of the median: not a quarter
  EXPECT_FALSE(PickSlowConnection(v, 8 * kMBps).has_value());
  // All slow alike: the network is slow, not one connection.
  EXPECT_FALSE(PickSlowConnection(Siblings(16, 5'000), 8 * kMBps).has_value());
}

TEST(PickSlowConnectionTest, TheSlowestOfSeveralGoesFirst) {
  auto v = Siblings(10, 8 * kMBps);
  v.push_back({11, 50'000, 4 * kPieceMiB, false});
  v.push_back({12, 20'000, 4 * kPieceMiB, false});
  EXPECT_EQ(PickSlowConnection(v, 8 * kMBps), 12);
}

TEST(PickSlowConnectionTest, NotWorthItWhenLittleIsLeftOrForAHedge) {
  auto v = Siblings(15, 8 * kMBps);
  v.push_back({16, 10'000, 4 * 1024, false});  // 4 KiB left: done in 0.4 s anyway
  EXPECT_FALSE(PickSlowConnection(v, 8 * kMBps).has_value());
  v.back() = {16, 100'000, 100 * 1024, false};  // 1 s left against 13 ms for a fresh one
  EXPECT_EQ(PickSlowConnection(v, 8 * kMBps), 16);
  v.back() = {16, 10'000, 4 * kPieceMiB, true};  // a replacement is not replaced again
  EXPECT_FALSE(PickSlowConnection(v, 8 * kMBps).has_value());
}

TEST(PickSlowConnectionTest, ASingleConnectionIsComparedWithTheBestRateSeen) {
  std::vector<ConnRate> one = {{1, 100'000, 64 * kPieceMiB, false}};
  EXPECT_EQ(PickSlowConnection(one, 20 * kMBps), 1);              // was 20 MB/s
  EXPECT_FALSE(PickSlowConnection(one, 300'000).has_value());     // never much faster
  EXPECT_FALSE(PickSlowConnection(one, 200 * 1024).has_value());  // a slow network
  // One sibling is too few for a median: the best rate decides.
  std::vector<ConnRate> two = {{1, 100'000, 64 * kPieceMiB, false},
                               {2, 9 * kMBps, 64 * kPieceMiB, false}};
  EXPECT_EQ(PickSlowConnection(two, 9 * kMBps), 1);
}

TEST(NextRampStepTest, DoublesWhileThroughputRisesThenStops) {
  // A CDN capping each connection at 25 MB/s: every doubling doubles the throughput.
  RampState s;
  s.limit = 4;
  s = NextRampStep(s, 4 * 25 * kMBps, 16, 0);
  EXPECT_EQ(s.limit, 8);
  EXPECT_FALSE(s.done);
  s = NextRampStep(s, 8 * 25 * kMBps, 16, 0);
  EXPECT_EQ(s.limit, 16);
  s = NextRampStep(s, 16 * 25 * kMBps, 16, 0);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.limit, 16);
}

TEST(NextRampStepTest, NoGainGoesBackAndStops) {
  // An uncapped origin: four connections already take all there is.
  RampState s;
  s.limit = 4;
  s = NextRampStep(s, 900 * kMBps, 16, 0);
  ASSERT_EQ(s.limit, 8);
  s = NextRampStep(s, 910 * kMBps, 16, 0);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.limit, 4);
  // A small gain keeps the count reached but adds no more.
  RampState t;
  t.limit = 4;
  t = NextRampStep(t, 100 * kMBps, 16, 0);
  t = NextRampStep(t, 110 * kMBps, 16, 0);
  EXPECT_TRUE(t.done);
  EXPECT_EQ(t.limit, 8);
}

TEST(NextRampStepTest, AMetRateLimitHoldsTheCountWithoutEndingTheRamp) {
  RampState s;
  s.limit = 4;
  s = NextRampStep(s, 9.5 * kMBps, 16, 10'000'000);
  EXPECT_EQ(s.limit, 4);
  EXPECT_FALSE(s.done);
  // The limit is raised: the ramp goes on.
  s = NextRampStep(s, 9.5 * kMBps, 16, 100'000'000);
  EXPECT_EQ(s.limit, 8);
  EXPECT_FALSE(s.done);
}

TEST(NextRampStepTest, NeverPastThePlannedCount) {
  RampState s;
  s.limit = 3;
  s = NextRampStep(s, 10 * kMBps, 3, 0);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.limit, 3);
}

}  // namespace
}  // namespace modeld::engine
