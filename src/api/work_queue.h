// WorkQueue: a few threads for blocking work a handler must not do on an I/O thread
// (probing an upstream URL). Bounded: when full, Post returns false (answer 503).
//
// Thread safety: Post from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace modeld::api {

class WorkQueue {
 public:
  explicit WorkQueue(int threads = 4, size_t max_queued = 256);
  ~WorkQueue();  // finishes queued work, then joins
  bool Post(std::function<void()> fn);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;                        // GUARDED_BY(mu_)
  size_t max_queued_;
  std::vector<std::thread> threads_;
};

}  // namespace modeld::api
