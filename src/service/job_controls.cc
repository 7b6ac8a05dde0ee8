// JobManager's answers to clients: the listings (jobs, queue places, counts, the models
// beside them, the partials gc keeps) and the controls (cancel, pause, resume, retry,
// remove). The queue itself and the download threads are in job_manager.cc.
#include <algorithm>

#include "service/job_manager.h"
#include "service/job_manager_locked.h"
#include "service/pull_support.h"

namespace modeld::service {

Result<Job> JobManager::Get(const std::string& id) {
  Locked lock(this);
  auto e = Find(id);
  if (!e.has_value()) return e.error();
  Job job = (*e)->job;
  auto places = QueuePositions();
  if (auto it = places.find(id); it != places.end()) job.queue_position = it->second;
  return job;
}

std::vector<Job> JobManager::List() {
  Locked lock(this);
  auto places = QueuePositions();
  std::vector<Job> out;
  for (const auto& id : order_) {
    out.push_back(jobs_.at(id).job);
    if (auto it = places.find(id); it != places.end()) out.back().queue_position = it->second;
  }
  return out;
}

std::map<std::string, int> JobManager::QueuePositions() const {
  std::vector<const Entry*> waiting;
  for (const auto& id : order_) {
    const Entry& e = jobs_.at(id);
    if (!e.running && e.job.last.state == JobState::kQueued) waiting.push_back(&e);
  }
  // Pump takes the highest priority, the oldest first among equals.
  std::stable_sort(waiting.begin(), waiting.end(), [](const Entry* a, const Entry* b) {
    return a->job.priority > b->job.priority;
  });
  std::map<std::string, int> places;
  for (size_t i = 0; i < waiting.size(); ++i) places[waiting[i]->job.id] = static_cast<int>(i) + 1;
  return places;
}

JobCounts JobManager::Counts() {
  MutexLock lock(&mu_);
  JobCounts c;
  for (const auto& [id, e] : jobs_) {
    JobState s = e.job.last.state;
    if (s == JobState::kQueued) ++c.queued;
    if (IsActive(s)) ++c.active;
    if (s == JobState::kPaused) ++c.paused;
  }
  return c;
}

Result<ModelsView> JobManager::Models() {
  ModelsView view;
  auto installed = service_.List();
  if (!installed.has_value()) return installed.error();
  view.installed = std::move(installed.value());
  Locked lock(this);
  for (const auto& id : order_) {
    const Job& job = jobs_.at(id).job;
    if (!IsTerminal(job.last.state)) view.downloads.push_back(job);
  }
  return view;
}

Status JobManager::Cancel(const std::string& id) {
  Locked lock(this);
  auto found = Find(id);
  if (!found.has_value()) return found.error();
  Entry& e = **found;
  if (IsTerminal(e.job.last.state)) {
    return Status::FailedPrecondition("Download '" + id + "' is already " +
                                      std::string(JobStateName(e.job.last.state)));
  }
  if (e.running) {
    e.after_stop = "cancel";
    e.stop->Request();
    return Status::OK();
  }
  MarkCancelled(e);
  return Status::OK();
}

Status JobManager::SetMaxRate(const std::string& id, uint64_t bytes_per_second) {
  Locked lock(this);
  auto found = Find(id);
  if (!found.has_value()) return found.error();
  Entry& e = **found;
  if (e.job.last.state == JobState::kCompleted) {  // failed or cancelled: for a retry
    return Status::FailedPrecondition("Download '" + id +
                                      "' is completed: there is nothing to limit");
  }
  e.job.request.options.max_rate = bytes_per_second;
  EnsureRateLimit(e.job.request);
  e.job.request.rate_limit->Set(bytes_per_second);  // the running transfers share it
  Persist(e);
  return Status::OK();
}

Status JobManager::Pause(const std::string& id) {
  Locked lock(this);
  auto found = Find(id);
  if (!found.has_value()) return found.error();
  Entry& e = **found;
  if (IsTerminal(e.job.last.state) || e.job.last.state == JobState::kPaused) {
    return Status::FailedPrecondition("Download '" + id + "' is " +
                                      std::string(JobStateName(e.job.last.state)) +
                                      ": it cannot be paused");
  }
  if (e.running) {
    e.after_stop = "pause";
    e.stop->Request();
    return Status::OK();
  }
  Update(e, JobState::kPaused, true);
  return Status::OK();
}

Status JobManager::Resume(const std::string& id) {
  Locked lock(this);
  auto found = Find(id);
  if (!found.has_value()) return found.error();
  Entry& e = **found;
  if (e.running && e.after_stop == "pause") {  // still stopping: requeue when it has
    e.after_stop = "requeue";
    return Status::OK();
  }
  if (e.job.last.state != JobState::kPaused) {
    return Status::FailedPrecondition("Download '" + id + "' is " +
                                      std::string(JobStateName(e.job.last.state)) + ", not paused");
  }
  Update(e, JobState::kQueued, true);
  Pump();
  return Status::OK();
}

Status JobManager::Retry(const std::string& id) {
  Locked lock(this);
  auto found = Find(id);
  if (!found.has_value()) return found.error();
  Entry& e = **found;
  JobState state = e.job.last.state;
  if (shutting_down_) return Status::Unavailable("modeld is shutting down");
  if (e.running || (state != JobState::kFailed && state != JobState::kCancelled)) {
    return Status::FailedPrecondition("Download '" + id + "' is " +
                                      std::string(JobStateName(state)) +
                                      ": only a failed or cancelled download can be retried");
  }
  if (Job* live = FindActive(e.job.request.ref)) {
    return Status::FailedPrecondition("Download '" + live->id + "' of " +
                                      e.job.request.ref.ToString() + " is already " +
                                      std::string(JobStateName(live->last.state)));
  }
  e.plan.reset();  // resolved again when it starts: the source may have changed
  e.interrupted_runs = 0;
  e.job.error = Status::OK();
  e.job.last.status = Status::OK();
  e.job.result.reset();
  e.job.finished_at = 0;
  e.after_stop.clear();
  if (state == JobState::kCancelled) {  // its partial download went with the cancel
    e.job.last.bytes_done = 0;
    e.job.last.files.clear();
  }
  Update(e, JobState::kQueued, true);
  Pump();
  return Status::OK();
}

std::vector<ModelRef> JobManager::PartialsKept() {
  Locked lock(this);
  std::vector<ModelRef> out;
  for (const auto& [id, e] : jobs_) {
    JobState s = e.job.last.state;
    if (!IsTerminal(s) || s == JobState::kFailed) out.push_back(e.job.request.ref);
  }
  return out;
}

Status JobManager::Remove(const std::string& id) {
  ReapThreads();
  Locked lock(this);
  auto found = Find(id);
  if (!found.has_value()) return found.error();
  Entry& e = **found;
  if (e.running) {
    e.after_stop = "remove";
    e.stop->Request();
    return Status::OK();
  }
  if (!IsTerminal(e.job.last.state)) {
    MarkCancelled(e);
  } else if (e.job.last.state == JobState::kFailed && !FindActive(e.job.request.ref)) {
    // Kept for a retry, which this job will not have now.
    doomed_.push_back(PullKey(e.job.request.ref));
  }
  Forget(id);
  return Status::OK();
}

}  // namespace modeld::service
