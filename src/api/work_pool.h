// WorkPool: threads for work a request handler must not do on an I/O thread (waiting on
// an upstream, a registry query, a removal of 100,000 files). It grows on demand up to
// |max_threads|, so a few handlers stuck on a silent upstream never hold up the others;
// idle threads exit after a while. Bounded: past |max_threads| busy and |max_queued|
// waiting, Post refuses (the server answers 503).
//
// Thread safety: Post from any thread. An exception thrown by a task is caught and
// logged; it never ends the thread or the process.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"

namespace modeld::api {

class WorkPool {
 public:
  WorkPool(std::string name, int max_threads, size_t max_queued,
           std::chrono::milliseconds idle = std::chrono::seconds(30));
  // Runs what is queued to the end, then waits for every thread to exit.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // False when the pool is full or stopping.
  bool Post(std::function<void()> fn) EXCLUDES(mu_);

  int threads_for_test() EXCLUDES(mu_);

 private:
  void Work() EXCLUDES(mu_);

  const std::string name_;
  const int max_threads_;
  const size_t max_queued_;
  const std::chrono::milliseconds idle_;
  Mutex mu_;
  CondVar cv_;      // work arrived, or stopping
  CondVar exited_;  // a thread exited
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  std::map<std::thread::id, std::thread> threads_ GUARDED_BY(mu_);  // live threads
  std::vector<std::thread> exited_threads_ GUARDED_BY(mu_);         // to join
  int idle_threads_ GUARDED_BY(mu_) = 0;                            // waiting for work
  bool stop_ GUARDED_BY(mu_) = false;
};

}  // namespace modeld::api
