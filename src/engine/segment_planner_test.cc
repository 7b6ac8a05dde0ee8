#include "engine/segment_planner.h"

#include <gtest/gtest.h>

#include <random>

namespace modeld::engine {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(RangeSetTest, MergesAndRemoves) {
  RangeSet s;
  s.Add(10, 20);
  s.Add(30, 40);
  s.Add(20, 30);  // touching ranges merge
  ASSERT_EQ(s.Ranges().size(), 1u);
  EXPECT_EQ(s.TotalBytes(), 30u);
  s.Remove(15, 25);
  EXPECT_EQ(s.Ranges(), (std::vector<ByteRange>{{10, 15}, {25, 40}}));
  EXPECT_EQ(s.TotalBytes(), 20u);
  EXPECT_EQ(s.ContiguousEnd(10), 15u);
  EXPECT_EQ(s.ContiguousEnd(12), 15u);
  EXPECT_EQ(s.ContiguousEnd(20), 20u);
  EXPECT_TRUE(s.Contains(26, 40));
  EXPECT_FALSE(s.Contains(14, 26));
  s.Add(0, 100);
  EXPECT_EQ(s.Ranges(), (std::vector<ByteRange>{{0, 100}}));
}

TEST(SegmentPlannerTest, LeasesPiecesInFileOrder) {
  SegmentPlanner p(10 * kMiB, 4 * kMiB, kMiB);
  auto a = p.Lease(1);
  auto b = p.Lease(2);
  auto c = p.Lease(3);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, (ByteRange{0, 4 * kMiB}));
  EXPECT_EQ(*b, (ByteRange{4 * kMiB, 8 * kMiB}));
  EXPECT_EQ(*c, (ByteRange{8 * kMiB, 10 * kMiB}));
}

TEST(SegmentPlannerTest, SplitsRemainderIntoLastSegmentInsteadOfSliver) {
  SegmentPlanner p(4 * kMiB + 100, 4 * kMiB, kMiB);
  auto a = p.Lease(1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->end, 4 * kMiB + 100);
}

TEST(SegmentPlannerTest, IdleWorkerStealsHalfOfLargestLease) {
  SegmentPlanner p(16 * kMiB, 16 * kMiB, kMiB);
  auto a = p.Lease(1);
  ASSERT_TRUE(a);
  p.Advance(1, 2 * kMiB);
  auto b = p.Lease(2);  // pool is empty: steal
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, (ByteRange{9 * kMiB, 16 * kMiB}));
  EXPECT_EQ(p.LeaseEnd(1), 9 * kMiB);
}

TEST(SegmentPlannerTest, DoesNotStealTinyRemainders) {
  SegmentPlanner p(3 * kMiB, 3 * kMiB, kMiB);
  ASSERT_TRUE(p.Lease(1));
  p.Advance(1, 2 * kMiB);
  EXPECT_FALSE(p.Lease(2));
}

TEST(SegmentPlannerTest, ReleasedRemainderReturnsToPool) {
  SegmentPlanner p(8 * kMiB, 4 * kMiB, kMiB);
  ASSERT_TRUE(p.Lease(1));
  p.Advance(1, kMiB);
  p.Release(1);  // connection failed after 1 MiB
  EXPECT_EQ(p.DoneBytes(), kMiB);
  auto again = p.Lease(2);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->begin, kMiB);
}

TEST(SegmentPlannerTest, ResumesAroundDoneRanges) {
  RangeSet done;
  done.Add(0, 3 * kMiB);
  done.Add(5 * kMiB, 6 * kMiB);
  SegmentPlanner p(8 * kMiB, 8 * kMiB, kMiB / 2, done);
  EXPECT_EQ(p.DoneBytes(), 4 * kMiB);
  EXPECT_EQ(p.ContiguousPrefix(), 3 * kMiB);
  auto a = p.Lease(1);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (ByteRange{3 * kMiB, 5 * kMiB}));
  p.Advance(1, 5 * kMiB);
  EXPECT_EQ(p.ContiguousPrefix(), 6 * kMiB);  // lease joins the done range behind it
  p.Release(1);
  auto b = p.Lease(1);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, (ByteRange{6 * kMiB, 8 * kMiB}));
}

// Random workers advancing, failing and stealing must write every byte exactly once.
TEST(SegmentPlannerTest, RandomScheduleWritesEveryByteExactlyOnce) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    uint64_t total = 1 + rng() % (64 * kMiB);
    SegmentPlanner p(total, 1 + rng() % (8 * kMiB), 1 + rng() % kMiB);
    std::map<int, uint64_t> pos;  // worker -> next byte it writes
    RangeSet written;
    for (int step = 0; step < 100000 && !p.Finished(); ++step) {
      int w = static_cast<int>(rng() % 8);
      if (!p.HasLease(w)) {
        if (auto r = p.Lease(w)) pos[w] = r->begin;
        continue;
      }
      uint64_t end = p.LeaseEnd(w);
      ASSERT_LE(pos[w], end);
      uint64_t to = pos[w] + rng() % (end - pos[w] + 1);
      // No byte may be handed to two writers.
      ASSERT_FALSE(to > pos[w] && written.ContiguousEnd(pos[w]) > pos[w]) << "overlap";
      for (const auto& r : written.Ranges()) {
        ASSERT_TRUE(r.end <= pos[w] || r.begin >= to) << "overlap at " << r.begin;
      }
      written.Add(pos[w], to);
      pos[w] = to;
      p.Advance(w, to);
      if (to == end || rng() % 5 == 0) p.Release(w);  // done, or the connection failed
    }
    ASSERT_TRUE(p.Finished()) << "round " << round;
    EXPECT_EQ(written.Ranges(), (std::vector<ByteRange>{{0, total}}));
    EXPECT_EQ(p.Written().Ranges(), written.Ranges());
    EXPECT_EQ(p.ContiguousPrefix(), total);
  }
}

TEST(PlanSplitTest, OneConnectionPer4MiBPiecesAQuarterOfEachShare) {
  struct Case {
    uint64_t remaining;
    int max_connections;
    uint64_t piece_size;
    int connections;
    uint64_t piece;
  };
  const Case cases[] = {
      {0, 16, 0, 1, 0},                          // nothing left
      {kMiB, 16, 0, 1, kMiB},                    // small: one connection, one piece
      {7 * kMiB, 16, 0, 1, 7 * kMiB},            // under 8 MiB: still one
      {8 * kMiB, 16, 0, 2, kMiB},                // two shares of 4 MiB, 1 MiB pieces
      {40 * kMiB, 16, 0, 10, kMiB},              // 40 / (10 * 4) = 1 MiB
      {100 * kMiB, 16, 0, 16, 100 * kMiB / 64},  // capped at 16 connections
      {1024 * kMiB, 16, 0, 16, 8 * kMiB},        // pieces at most 8 MiB
      {1024 * kMiB, 1, 0, 1, 1024 * kMiB},       // one connection: the whole remainder
      {1024 * kMiB, 64, 0, 64, 4 * kMiB},
      {1024 * kMiB, 16, 3 * kMiB, 16, 3 * kMiB},  // piece_size given
      {kMiB, 16, 64 * 1024, 1, 64 * 1024},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.remaining << " bytes, max " << c.max_connections);
    SplitPlan plan = PlanSplit(c.remaining, c.max_connections, c.piece_size);
    EXPECT_EQ(plan.connections, c.connections);
    EXPECT_EQ(plan.piece, c.piece);
  }
}

TEST(SegmentPlannerTest, FreeWorkAndTheLargestLeaseLeft) {
  SegmentPlanner p(10 << 20, 4 << 20, 3 << 20);
  EXPECT_TRUE(p.HasFreeWork());
  EXPECT_EQ(p.LargestLeft(), 0u);
  auto a = p.Lease(1);  // [0, 4M)
  auto b = p.Lease(2);  // [4M, 10M): the 2 MiB sliver joins it
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(p.HasFreeWork());
  EXPECT_TRUE(p.HasWork()) << "a lease can still be split";
  EXPECT_EQ(p.LargestLeft(), 6u << 20);
  p.Advance(2, 9 << 20);
  EXPECT_EQ(p.LargestLeft(), 4u << 20) << "the first lease's, now";
}

}  // namespace
}  // namespace modeld::engine
