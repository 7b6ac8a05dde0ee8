#include "api/work_pool.h"

#include <gtest/gtest.h>

#include <future>
#include <vector>

namespace modeld::api {
namespace {

TEST(WorkPoolTest, GrowsPastBlockedTasksUpToItsLimit) {
  // What the tasks use is declared before the pool, so it outlives the pool's threads:
  // the pool's destructor joins them while they may still be returning from gate.wait()
  // (ASan: stack-use-after-scope when |gate| went first).
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::vector<std::promise<void>> started(4);
  std::promise<void> fifth;
  WorkPool pool("test", 4, 1);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(pool.Post([&, i] {
      started[i].set_value();
      gate.wait();
    }));
  }
  for (auto& s : started) s.get_future().wait();  // four threads, each blocked
  EXPECT_EQ(pool.threads_for_test(), 4);
  EXPECT_TRUE(pool.Post([&] { fifth.set_value(); })) << "one may wait";
  EXPECT_FALSE(pool.Post([] {})) << "full: refused rather than queued without bound";
  release.set_value();
  fifth.get_future().wait();
}

TEST(WorkPoolTest, ATaskThatThrowsCostsNothingElse) {
  WorkPool pool("test", 1, 8);
  ASSERT_TRUE(pool.Post([] { throw std::runtime_error("boom"); }));
  std::promise<int> after;
  ASSERT_TRUE(pool.Post([&] { after.set_value(7); }));
  EXPECT_EQ(after.get_future().get(), 7);
}

TEST(WorkPoolTest, IdleThreadsExitAndTheDestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    WorkPool pool("test", 2, 16, std::chrono::milliseconds(20));
    std::promise<void> done;
    ASSERT_TRUE(pool.Post([&] { done.set_value(); }));
    done.get_future().wait();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.Post([&] { ++ran; }));
  }
  EXPECT_EQ(ran, 10);
}

}  // namespace
}  // namespace modeld::api
