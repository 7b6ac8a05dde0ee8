#include "service/stop_signal.h"

namespace modeld::service {

void StopSignal::Request() {
  std::function<void()> fn;
  {
    MutexLock lock(&mu_);
    requested_ = true;
    fn = fn_;
  }
  if (fn) fn();
}

void StopSignal::OnRequest(std::function<void()> fn) {
  {
    MutexLock lock(&mu_);
    fn_ = fn;
    if (!requested_) return;
  }
  if (fn) fn();
}

void StopSignal::Clear() {
  MutexLock lock(&mu_);
  fn_ = nullptr;
}

}  // namespace modeld::service
