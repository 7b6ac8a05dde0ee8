// JobEvent and EventBus: how a job's state and progress reach every reader (polling
// endpoints read the latest event; SSE, WebSocket and NDJSON streams subscribe).
//
// Thread safety: EventBus is safe from any thread. Subscribers run on the publishing
// thread (a download thread or an API thread), after the job manager's lock is released:
// they may call back into the job manager, and must not block (queue and return).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/mutex.h"
#include "core/names.h"
#include "core/status.h"
#include "service/types.h"

namespace modeld::service {

struct JobEvent {
  std::string job_id;
  ModelRef model;
  JobState state = JobState::kQueued;
  uint64_t bytes_done = 0;
  std::optional<uint64_t> bytes_total;
  double bytes_per_second = 0;
  std::optional<double> eta_seconds;
  bool stalled = false;             // downloading, no byte for a while (Progress::stalled)
  std::vector<FileProgress> files;  // per file of the model, when known
  Status status;                    // failed or cancelled: why (its message redacted)
  bool state_change = false;        // false for plain progress (which may be coalesced)
  // A notice (never coalesced): a file's download is retried, or the job waits for
  // another download of the same thing. The other fields are the job's as ever.
  std::optional<RetryNotice> retry;
  std::optional<WaitNotice> waiting;
  // The job was forgotten (JobManager::Remove): no event follows. Delivered only to
  // subscribers that ask for removals (a listing that drops the job's row).
  bool removed = false;
  bool notice() const { return retry.has_value() || waiting.has_value(); }
  bool terminal() const { return IsTerminal(state); }
};

class EventBus {
 public:
  using Subscriber = std::function<void(const JobEvent&)>;
  // |removals|: also deliver the events that say a job was forgotten (JobEvent::removed).
  uint64_t Subscribe(Subscriber fn, bool removals = false) EXCLUDES(mu_);
  void Unsubscribe(uint64_t id) EXCLUDES(mu_);
  // Calls every subscriber; one that throws loses this event, the others get it.
  void Publish(const JobEvent& ev) EXCLUDES(mu_);

 private:
  Mutex mu_;
  uint64_t next_ GUARDED_BY(mu_) = 1;
  struct Sub {
    std::shared_ptr<Subscriber> fn;
    bool removals = false;
  };
  std::map<uint64_t, Sub> subs_ GUARDED_BY(mu_);
};

}  // namespace modeld::service
