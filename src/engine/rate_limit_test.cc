#include "engine/rate_limit.h"

#include <gtest/gtest.h>

#include <thread>

namespace modeld::engine {
namespace {

using Clock = TokenBucket::Clock;
using std::chrono::milliseconds;

// Simulates a receiver that takes |chunk| bytes whenever the bucket is not empty, with
// the loop waking every |tick|, for |span|: returns the bytes received.
uint64_t Simulate(TokenBucket& b, uint64_t rate, uint64_t chunk, milliseconds tick,
                  milliseconds span, Clock::time_point start) {
  uint64_t got = 0;
  for (auto t = start; t < start + span; t += tick) {
    b.Refill(t, rate);
    while (!b.Empty()) {
      b.Take(chunk);
      got += chunk;
    }
  }
  return got;
}

TEST(TokenBucketTest, DeliversTheRateWithinAFewPercentOverTenSeconds) {
  for (uint64_t rate : {50'000ull, 1'000'000ull, 200'000'000ull}) {
    for (uint64_t chunk : {1024ull, 16384ull, 262144ull}) {
      if (chunk > rate / 10) continue;  // the engine sizes buffers from the cap
      TokenBucket b;
      uint64_t got = Simulate(b, rate, chunk, milliseconds(7), milliseconds(10'000), Clock::now());
      double ratio = static_cast<double>(got) / (static_cast<double>(rate) * 10);
      EXPECT_NEAR(ratio, 1.0, 0.05) << "rate " << rate << " chunk " << chunk;
    }
  }
}

TEST(TokenBucketTest, AnIdleBucketCannotBurstPastItsCap) {
  TokenBucket b;
  auto t0 = Clock::now();
  b.Refill(t0, 1'000'000);
  b.Refill(t0 + std::chrono::seconds(60), 1'000'000);  // a minute of nothing received
  uint64_t got = 0;
  while (!b.Empty()) {
    b.Take(1000);
    got += 1000;
  }
  EXPECT_LE(got, 1'000'000 * 0.05 + 1000);  // one burst, not a minute's worth
}

TEST(TokenBucketTest, DebtIsPaidBackAndTimeToRefillSaysWhen) {
  TokenBucket b;
  auto t0 = Clock::now();
  b.Refill(t0, 100'000);
  b.Take(5'000 + 100'000);  // the burst (5 KB) and a second's worth of debt
  EXPECT_TRUE(b.Empty());
  auto wait = b.TimeToRefill(100'000);
  EXPECT_GE(wait, milliseconds(999));
  EXPECT_LE(wait, milliseconds(1001));
  b.Refill(t0 + milliseconds(500), 100'000);
  EXPECT_TRUE(b.Empty());
  b.Refill(t0 + wait, 100'000);
  EXPECT_FALSE(b.Empty());
}

TEST(TokenBucketTest, ARaisedCapTakesEffectAtTheNextRefill) {
  TokenBucket b;
  auto t0 = Clock::now();
  uint64_t slow = Simulate(b, 10'000, 500, milliseconds(10), milliseconds(1000), t0);
  uint64_t fast =
      Simulate(b, 1'000'000, 500, milliseconds(10), milliseconds(1000), t0 + milliseconds(1000));
  EXPECT_NEAR(static_cast<double>(slow), 10'000, 1'000);
  EXPECT_NEAR(static_cast<double>(fast), 1'000'000, 60'000);
}

TEST(TokenBucketTest, ZeroMeansUnlimitedAndResets) {
  TokenBucket b;
  auto t0 = Clock::now();
  b.Refill(t0, 1000);
  b.Take(1'000'000);
  b.Refill(t0 + milliseconds(1), 0);
  EXPECT_EQ(b.TimeToRefill(0), Clock::duration::zero());
  b.Refill(t0 + milliseconds(2), 1000);  // a new cap starts afresh, not in the old debt
  EXPECT_FALSE(b.Empty());
}

TEST(RateLimitTest, SetFromAnotherThreadIsSeen) {
  RateLimit limit(5);
  std::thread([&] { limit.Set(7'000'000); }).join();
  EXPECT_EQ(limit.rate(), 7'000'000u);
}

}  // namespace
}  // namespace modeld::engine
