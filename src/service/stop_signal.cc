#include "service/stop_signal.h"

namespace modeld::service {

void StopSignal::Request() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requested_ = true;
    fn = fn_;
  }
  if (fn) fn();
}

void StopSignal::OnRequest(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    if (!requested_) return;
  }
  if (fn) fn();
}

void StopSignal::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  fn_ = nullptr;
}

}  // namespace modeld::service
