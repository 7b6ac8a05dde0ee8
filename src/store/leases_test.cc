#include "store/leases.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>
#include <vector>

#include "registries.h"
#include "store/store.h"

namespace modeld::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class LeaseTest : public ::testing::TestWithParam<testing_pg::Registry> {
 protected:
  void SetUp() override {
    MODELD_STORE_OPTIONS_OR_SKIP(root_, opts_, "modeld_lease_");
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }
  // Another "instance": a Store of its own on the same registry and data dir.
  std::unique_ptr<Store> Open() {
    auto s = Store::Open(opts_);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return s.has_value() ? std::move(s.value()) : nullptr;
  }
  Lease Acquire(Store& s, const std::string& name, const std::string& holder,
                std::chrono::milliseconds ttl) {
    auto got = s.TryAcquireLease(name, holder, ttl);
    EXPECT_TRUE(got.has_value()) << got.error().ToString();
    EXPECT_TRUE(got.has_value() && got->has_value()) << holder << " did not get " << name;
    return got.has_value() && got->has_value() ? **got : Lease{};
  }
  bool Refused(Store& s, const std::string& name, const std::string& holder) {
    auto got = s.TryAcquireLease(name, holder, 60s);
    EXPECT_TRUE(got.has_value()) << got.error().ToString();
    return got.has_value() && !got->has_value();
  }
  // Waits (bounded) until |holder| takes |name|: a lease expires by the clock.
  Lease AcquireOnceExpired(Store& s, const std::string& name, const std::string& holder) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto got = s.TryAcquireLease(name, holder, 60s);
      EXPECT_TRUE(got.has_value()) << got.error().ToString();
      if (!got.has_value()) break;
      if (got->has_value()) return **got;
      std::this_thread::yield();
    }
    ADD_FAILURE() << holder << " never took the expired lease " << name;
    return {};
  }

  fs::path root_;
  StoreOptions opts_;
  std::unique_ptr<Store> store_;
};

TEST_P(LeaseTest, AcquireRenewReleaseAndFencesThatOnlyGrow) {
  Lease a = Acquire(*store_, "blob:x", "A", 60s);
  EXPECT_EQ(a.name, "blob:x");
  EXPECT_EQ(a.holder, "A");
  EXPECT_EQ(a.fence, 1);
  EXPECT_TRUE(Refused(*store_, "blob:x", "B")) << "A's lease is valid";
  // Re-acquiring one's own valid lease renews it, same fence.
  Lease again = Acquire(*store_, "blob:x", "A", 120s);
  EXPECT_EQ(again.fence, 1);
  EXPECT_GT(again.expires_at_ms, a.expires_at_ms);
  const int64_t before = again.expires_at_ms;
  ASSERT_TRUE(store_->RenewLease(again, 600s).ok());
  EXPECT_GT(again.expires_at_ms, before);
  auto got = store_->GetLease("blob:x");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ(**got, again);
  EXPECT_TRUE(*store_->IsFenceCurrent("blob:x", 1));
  // Another name is another lease.
  EXPECT_EQ(Acquire(*store_, "blob:y", "B", 60s).fence, 1);

  ASSERT_TRUE(store_->ReleaseLease(again).ok());
  EXPECT_FALSE(store_->GetLease("blob:x")->has_value());
  EXPECT_FALSE(*store_->IsFenceCurrent("blob:x", 1));
  EXPECT_EQ(store_->RenewLease(again, 60s).code(), Status::Code::kFailedPrecondition);
  // Released, it changes hands with the next fence: never 1 again.
  Lease b = Acquire(*store_, "blob:x", "B", 60s);
  EXPECT_EQ(b.fence, 2);
  ASSERT_TRUE(store_->ReleaseLease(again).ok()) << "a stale release is a no-op";
  EXPECT_EQ(store_->GetLease("blob:x")->value().holder, "B");
  ASSERT_TRUE(store_->ReleaseLease(b).ok());
  EXPECT_EQ(Acquire(*store_, "blob:x", "A", 60s).fence, 3) << "also back to an old holder";
  EXPECT_EQ(store_->TryAcquireLease("", "A", 60s).error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->TryAcquireLease("n", "A", 0ms).error().code(), Status::Code::kInvalidArgument);
}

TEST_P(LeaseTest, AnExpiredLeaseIsTakenOverAndItsHolderFindsOut) {
  Lease a = Acquire(*store_, "blob:z", "A", 1ms);
  auto other = Open();
  ASSERT_NE(other, nullptr);
  Lease b = AcquireOnceExpired(*other, "blob:z", "B");
  EXPECT_EQ(b.fence, a.fence + 1);
  // A, back from a pause, has lost it: its renewal fails and its fence is stale.
  EXPECT_EQ(store_->RenewLease(a, 60s).code(), Status::Code::kFailedPrecondition);
  EXPECT_FALSE(*store_->IsFenceCurrent("blob:z", a.fence));
  EXPECT_TRUE(*store_->IsFenceCurrent("blob:z", b.fence));
  ASSERT_TRUE(store_->ReleaseLease(a).ok());
  EXPECT_EQ(other->GetLease("blob:z")->value().holder, "B") << "A's release changed nothing";
  EXPECT_TRUE(Refused(*store_, "blob:z", "A"));
  // GetLease shows an expired lease too (who held it).
  Lease c = Acquire(*other, "blob:w", "C", 1ms);
  // (The throwaway cluster's clock is this host's: past c's expiry here is past it there.)
  while (std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() <= c.expires_at_ms) {
    std::this_thread::yield();
  }
  Lease d = Acquire(*other, "blob:w", "C", 60s);
  EXPECT_EQ(d.fence, c.fence + 1) << "one's own expired lease is taken anew";
}

// A caller that knows a holder is gone (the Hub mirror: an instance of its own host,
// while it holds the file lock they all fetch under) takes its valid lease at once.
TEST_P(LeaseTest, AValidLeaseOfAHolderKnownGoneIsTakenOver) {
  Lease a = Acquire(*store_, "mirror:t", "hostA:11:aa", 60s);
  EXPECT_TRUE(Refused(*store_, "mirror:t", "hostA:12:bb")) << "no take-over asked";
  auto other = store_->TryAcquireLease("mirror:t", "hostB:13:cc", 60s, "hostA:");
  ASSERT_TRUE(other.has_value() && other->has_value()) << "hostA's lease, taken over";
  EXPECT_EQ((*other)->fence, a.fence + 1);
  auto back = store_->TryAcquireLease("mirror:t", "hostA:12:bb", 60s, "hostX:");
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->has_value()) << "hostB's lease is valid and not hostX's";
  auto own = store_->TryAcquireLease("mirror:t", "hostB:13:cc", 60s, "hostB:");
  ASSERT_TRUE(own.has_value() && own->has_value());
  EXPECT_EQ((*own)->fence, a.fence + 1) << "one's own lease is renewed, not taken over";
  // The holder that lost it cannot record what the lease guards.
  FileEntry blob{"w.bin", 3, std::string(64, 'a')};
  EXPECT_EQ(store_->KeepMirrorBlob("etag-t", blob, &a).code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(store_->KeepMirrorBlob("etag-t", blob, &**own).ok());
}

TEST_P(LeaseTest, RenewingAnExpiredLeaseFails) {
  Lease a = Acquire(*store_, "blob:e", "A", 1ms);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  Status s;
  while (std::chrono::steady_clock::now() < deadline) {
    Lease copy = a;
    s = store_->RenewLease(copy, 1ms);  // renews while still valid, else fails
    if (!s.ok()) break;
    a = copy;
  }
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  auto got = store_->GetLease("blob:e");
  ASSERT_TRUE(got.has_value() && got->has_value()) << "an expired lease is still shown";
  EXPECT_EQ((*got)->holder, "A");
}

// Two instances (two Stores on one registry), four threads each, race for one lease at
// once, round after round: exactly one wins each round, with the next fence.
TEST_P(LeaseTest, TwoInstancesRacingFromManyThreadsExactlyOneWins) {
  auto second = Open();
  ASSERT_NE(second, nullptr);
  Store* stores[2] = {store_.get(), second.get()};
  constexpr int kThreads = 8, kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    std::latch start(kThreads);
    std::atomic<int> winners{0}, errors{0};
    std::vector<Lease> won(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        auto got = stores[t % 2]->TryAcquireLease("race", "holder-" + std::to_string(t), 60s);
        if (!got.has_value()) {
          ++errors;
        } else if (got->has_value()) {
          ++winners;
          won[t] = **got;
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(errors.load(), 0) << "round " << round;
    ASSERT_EQ(winners.load(), 1) << "round " << round;
    for (const Lease& l : won) {
      if (l.fence == 0) continue;
      EXPECT_EQ(l.fence, round + 1) << "fences grow by one per change of hands";
      auto current = second->GetLease("race");
      ASSERT_TRUE(current.has_value() && current->has_value());
      EXPECT_EQ(**current, l);
      ASSERT_TRUE(store_->ReleaseLease(l).ok());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Registries, LeaseTest, MODELD_REGISTRIES);

}  // namespace
}  // namespace modeld::store
