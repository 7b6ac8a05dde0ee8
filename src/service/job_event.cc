#include "service/job_event.h"

#include "core/log.h"

namespace modeld::service {

uint64_t EventBus::Subscribe(Subscriber fn, bool removals) {
  MutexLock lock(&mu_);
  uint64_t id = next_++;
  subs_[id] = Sub{std::make_shared<Subscriber>(std::move(fn)), removals};
  return id;
}

void EventBus::Unsubscribe(uint64_t id) {
  MutexLock lock(&mu_);
  subs_.erase(id);
}

void EventBus::Publish(const JobEvent& ev) {
  std::vector<std::shared_ptr<Subscriber>> subs;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, s] : subs_) {
      if (!ev.removed || s.removals) subs.push_back(s.fn);
    }
  }
  // Outside the lock: a subscriber may unsubscribe. One that throws loses this event; the
  // publisher (a download thread) and the other subscribers go on.
  for (const auto& s : subs) {
    try {
      (*s)(ev);
    } catch (const std::exception& e) {
      log::Error("job event subscriber threw: {}", e.what());
    } catch (...) {
      log::Error("job event subscriber threw");
    }
  }
}

}  // namespace modeld::service
