#include "api/work_pool.h"

#include "core/log.h"

namespace modeld::api {

WorkPool::WorkPool(std::string name, int max_threads, size_t max_queued,
                   std::chrono::milliseconds idle)
    : name_(std::move(name)),
      max_threads_(std::max(1, max_threads)),
      max_queued_(max_queued),
      idle_(idle) {}

WorkPool::~WorkPool() {
  std::vector<std::thread> done;
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
    exited_.Wait(&mu_, [&]() REQUIRES(mu_) { return threads_.empty(); });
    done.swap(exited_threads_);
  }
  for (auto& t : done) t.join();
}

bool WorkPool::Post(std::function<void()> fn) {
  std::vector<std::thread> done;
  {
    MutexLock lock(&mu_);
    if (stop_) return false;
    done.swap(exited_threads_);
    // Threads idle and not yet claimed by a queued task.
    int free = idle_threads_ - static_cast<int>(queue_.size());
    if (free > 0) {
      queue_.push_back(std::move(fn));
      cv_.Signal();
    } else if (static_cast<int>(threads_.size()) < max_threads_) {
      queue_.push_back(std::move(fn));
      std::thread t([this] { Work(); });
      auto id = t.get_id();
      threads_.emplace(id, std::move(t));
    } else if (static_cast<size_t>(-free) < max_queued_) {
      queue_.push_back(std::move(fn));
    } else {
      return false;
    }
  }
  for (auto& t : done) t.join();
  return true;
}

void WorkPool::Work() {
  MutexLock lock(&mu_);
  for (;;) {
    ++idle_threads_;
    bool got = cv_.WaitFor(&mu_, idle_, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    --idle_threads_;
    if (!got || queue_.empty()) break;  // idle too long, or stopping with nothing left
    auto fn = std::move(queue_.front());
    queue_.pop_front();
    lock.Unlock();
    try {
      fn();
    } catch (const std::exception& e) {
      log::Error("{} worker: a task threw: {}", name_, e.what());
    } catch (...) {
      log::Error("{} worker: a task threw", name_);
    }
    fn = nullptr;  // captures die outside the lock
    lock.Lock();
  }
  // Joined by the next Post or the destructor.
  auto it = threads_.find(std::this_thread::get_id());
  if (it != threads_.end()) {
    exited_threads_.push_back(std::move(it->second));
    threads_.erase(it);
  }
  exited_.SignalAll();
}

int WorkPool::threads_for_test() {
  MutexLock lock(&mu_);
  return static_cast<int>(threads_.size());
}

}  // namespace modeld::api
