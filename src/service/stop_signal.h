// StopSignal: lets one thread stop an operation another thread is blocked in (a pull, a
// download, a wait for another process's lock).
//
// Thread safety: all methods are safe from any thread.
#pragma once

#include <atomic>
#include <functional>

#include "core/mutex.h"

namespace modeld::service {

class StopSignal {
 public:
  void Request() EXCLUDES(mu_);
  bool requested() const { return requested_; }
  // Runs |fn| now if a stop was already requested, else on the first Request(). Replaces
  // an earlier |fn|.
  void OnRequest(std::function<void()> fn) EXCLUDES(mu_);
  void Clear() EXCLUDES(mu_);

 private:
  Mutex mu_;
  std::atomic<bool> requested_{false};
  std::function<void()> fn_ GUARDED_BY(mu_);
};

}  // namespace modeld::service
