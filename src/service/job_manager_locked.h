// JobManager::Locked, shared by job_manager.cc (the queue and the download threads) and
// job_controls.cc (what clients ask of jobs): holds the manager's mutex and, on release,
// removes the doomed partial downloads and publishes the queued events outside it.
//
// Internal to the service module. Thread safety: one per scope, on the thread that made it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "service/job_manager.h"

namespace modeld::service {

class SCOPED_CAPABILITY JobManager::Locked {
 public:
  explicit Locked(JobManager* jm) ACQUIRE(jm->mu_) : jm_(jm), lock_(&jm->mu_) {}
  ~Locked() RELEASE() {
    std::vector<JobEvent> out;
    out.swap(jm_->outbox_);
    std::vector<std::string> doomed;
    doomed.swap(jm_->doomed_);
    lock_.Unlock();
    // Disk work never holds the manager's lock: progress reporters (the engine's loop
    // thread among them) are never stuck behind it. A partial is removed under its pull's
    // lock, and not at all when a new run (a retry, a new request) already holds it: that
    // run owns the files now.
    store::Store& store = jm_->service_.store();
    for (const auto& key : doomed) {
      auto held = store.TryLock(key);
      if (!held.has_value() || !held->has_value()) continue;
      std::error_code ec;
      std::filesystem::remove_all(store.PartialDir(key), ec);
    }
    for (const auto& ev : out) jm_->bus_.Publish(ev);
  }

 private:
  JobManager* jm_;
  MutexLock lock_;
};

}  // namespace modeld::service
