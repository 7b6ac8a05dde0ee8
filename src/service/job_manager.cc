#include "service/job_manager.h"

#include <sys/random.h>

#include <algorithm>
#include <chrono>

#include "core/log.h"
#include "core/redact.h"
#include "core/time_format.h"
#include "service/job_manager_locked.h"
#include "service/pull_support.h"
#include "service/record_writer.h"
#include "service/recorded_request.h"
#include "service/service_metrics.h"
#include "sources/plan.h"

namespace modeld::service {

namespace {

std::string NewJobId() {
  unsigned char bytes[6];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t r = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string id = "dwnld_";
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

// A failure as events and listings show it: its message stripped of credentials, its
// typed detail kept (api/ redacts the detail's values as it writes them).
Status Redacted(const Status& s) {
  Status r = Status::FromCode(s.code(), RedactText(s.message()));
  return s.info() != nullptr ? r.WithInfo(*s.info()) : r;
}

}  // namespace

JobManager::JobManager(ModelService& service, int max_concurrent)
    : service_(service),
      max_concurrent_(std::max(1, max_concurrent)),
      writer_(std::make_unique<RecordWriter>(service.store())) {
  // A model with a live job (queued, running or paused) is not loaded meanwhile.
  service_.set_live_job_check([this](const ModelRef& ref) {
    MutexLock lock(&mu_);
    return FindActive(ref) != nullptr;
  });
}

JobManager::~JobManager() {
  service_.set_live_job_check(nullptr);
  MutexLock lock(&mu_);
  shutting_down_ = true;
  for (auto& [id, e] : jobs_) {
    if (e.running) {
      e.after_stop = "shutdown";
      e.stop->Request();
    }
  }
  cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return running_ == 0; });
  std::vector<std::thread> threads = std::move(finished_threads_);
  for (auto& [tid, t] : threads_) threads.push_back(std::move(t));
  threads_.clear();
  lock.Unlock();
  for (auto& t : threads) t.join();
  writer_->Flush();
}

void JobManager::ReapThreads() {
  std::vector<std::thread> done;
  {
    MutexLock lock(&mu_);
    auto self = std::this_thread::get_id();
    if (threads_.count(self)) return;  // a job thread (a subscriber calling in): not here
    for (auto& t : finished_threads_) {
      if (t.get_id() == self) return;
    }
    done.swap(finished_threads_);
  }
  for (auto& t : done) t.join();
}

void JobManager::Persist(const Entry& e) {
  const Job& job = e.job;
  store::JobRecord rec;
  rec.id = job.id;
  rec.model = job.request.ref.ToString();
  rec.request = PullRequestToJson(job.request, job.priority);
  rec.state = std::string(JobStateName(job.last.state));
  rec.bytes_done = job.last.bytes_done;
  rec.bytes_total = job.last.bytes_total;
  rec.error = job.last.status.ok() ? "" : job.last.status.message();
  rec.interrupted_runs = e.interrupted_runs;
  rec.run_start_bytes = e.run_start_bytes;
  writer_->Save(std::move(rec));
}

void JobManager::Update(Entry& e, JobState state, bool state_change) {
  Job& job = e.job;
  job.last.job_id = job.id;
  job.last.model = job.request.ref;
  job.last.state = state;
  job.last.state_change = state_change;
  if (state_change) Persist(e);
  outbox_.push_back(job.last);  // published by Locked once mu_ is released
}

Job* JobManager::FindActive(const ModelRef& ref) {
  for (const auto& id : order_) {
    Entry& e = jobs_.at(id);
    if (e.job.request.ref == ref && !IsTerminal(e.job.last.state)) return &e.job;
  }
  return nullptr;
}

Result<Submission> JobManager::Submit(PullRequest request, int priority) {
  ReapThreads();
  if (Status s = ValidateModelName(request.ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(request.ref.version); !s.ok()) return s;
  // A live job of the same version joins only what asks for the same thing: another URL
  // or selection cannot wait in it (nor run beside it: one pull per version at a time).
  auto join = [this, &request](Job* live) REQUIRES(mu_) -> Result<Submission> {
    Entry& e = jobs_.at(live->id);
    if (!SameTarget(e.job.request, request)) {
      return Status::FailedPrecondition("another download of " + request.ref.ToString() + " (" +
                                        live->id + ", from something else) is " +
                                        std::string(JobStateName(live->last.state)) +
                                        ": wait for it to end or cancel it");
    }
    // A rate limit asked for with it applies to the job from now on (the latest one asked).
    if (request.options.max_rate > 0 &&
        request.options.max_rate != e.job.request.options.max_rate) {
      e.job.request.options.max_rate = request.options.max_rate;
      EnsureRateLimit(e.job.request);
      e.job.request.rate_limit->Set(request.options.max_rate);
      Persist(e);
    }
    if (e.job.last.state == JobState::kPaused && !e.running) {  // asking again resumes it
      Update(e, JobState::kQueued, true);
      Pump();
    }
    return Submission{e.job, true};
  };
  {
    Locked lock(this);
    if (shutting_down_) return Status::Unavailable("shutting down");
    if (Job* live = FindActive(request.ref)) return join(live);
  }
  // Outside the lock: resolving waits on the network.
  PlanSummary summary;
  auto plan = service_.Prepare(request, &summary);
  if (!plan.has_value()) return plan.error();
  Locked lock(this);
  if (shutting_down_) return Status::Unavailable("shutting down");
  if (Job* live = FindActive(request.ref)) return join(live);  // it raced us
  return Submission{
      Enqueue(std::move(request), priority, std::move(plan.value()), std::move(summary)), false};
}

Job JobManager::Enqueue(PullRequest request, int priority,
                        std::shared_ptr<const sources::Plan> plan, PlanSummary summary) {
  Entry e;
  e.job.id = NewJobId();
  e.job.request = std::move(request);
  EnsureRateLimit(e.job.request);
  e.job.priority = priority;
  e.job.plan = std::move(summary);
  e.job.created_at = UnixSeconds();
  e.plan = std::move(plan);
  e.stop = std::make_unique<StopSignal>();
  std::string id = e.job.id;
  auto [it, ok] = jobs_.emplace(id, std::move(e));
  order_.push_back(id);
  Update(it->second, JobState::kQueued, true);
  Pump();
  return it->second.job;
}

void JobManager::Pump() {
  while (running_ < max_concurrent_ && !shutting_down_) {
    Entry* next = nullptr;
    for (const auto& id : order_) {
      Entry& e = jobs_.at(id);
      if (e.running || e.job.last.state != JobState::kQueued) continue;
      if (!next || e.job.priority > next->job.priority) next = &e;  // ties: oldest first
    }
    if (!next) return;
    next->running = true;
    next->after_stop.clear();
    next->job.started_at = UnixSeconds();
    next->run_start_bytes = next->job.last.bytes_done;
    ++running_;
    Update(*next, JobState::kResolving, true);
    std::thread t([this, id = next->job.id] { Run(id); });
    auto tid = t.get_id();
    threads_.emplace(tid, std::move(t));
  }
}

void JobManager::Run(std::string id) {
  PullRequest req;
  std::shared_ptr<const sources::Plan> plan;
  StopSignal* stop;
  {
    Locked lock(this);
    Entry& e = jobs_.at(id);
    req = e.job.request;
    plan = e.plan;
    stop = e.stop.get();
  }
  if (!req.options.retry_for) req.options.retry_for = default_retry_for_;
  // The record says "running" before any work starts: if this run takes the process
  // down, the next start knows (Recover).
  writer_->Flush();
  auto last_persist = std::chrono::steady_clock::now();
  ProgressCallback progress = [&](const Progress& p) {
    // Said at the default log level: a server's operator sees why a job is slow.
    if (p.retry) {
      log::Warn("job={} {}{}{}: {}, retrying in {} (attempt {})", id, req.ref.ToString(),
                p.retry->file.empty() ? "" : " ", p.retry->file, p.retry->reason,
                HumanDuration(p.retry->delay), p.retry->attempt);
    }
    if (p.waiting) {
      log::Warn("job={} {}: waiting for {} downloading {}", id, req.ref.ToString(),
                p.waiting->this_process ? std::string("another job of this server")
                : p.waiting->pid > 0 ? "another modeld (pid " + std::to_string(p.waiting->pid) + ")"
                                     : std::string("another modeld"),
                p.waiting->what);
    }
    Locked lock(this);
    Entry& e = jobs_.at(id);
    if (!e.after_stop.empty()) return;  // stopping: no more progress
    if (p.retry || p.waiting) {
      // Clients hear of it too (a CLI pulling through this server says it as it would).
      JobEvent notice = e.job.last;
      notice.state_change = false;
      notice.retry = p.retry;
      notice.waiting = p.waiting;
      outbox_.push_back(std::move(notice));
      if (p.waiting) return;  // a notice alone: no progress of its own
    }
    if (e.job.last.bytes_done != p.done) e.interrupted_runs = 0;  // it moves
    e.job.last.bytes_done = p.done;
    e.job.last.bytes_total = p.total;
    e.job.last.bytes_per_second = p.bytes_per_second;
    e.job.last.eta_seconds = p.eta_seconds;
    e.job.last.stalled = p.stalled;
    e.job.last.files = p.files;
    bool change = p.state != e.job.last.state;
    auto now = std::chrono::steady_clock::now();
    if (!change && now - last_persist >= std::chrono::seconds(1)) {
      last_persist = now;
      Persist(e);  // bytes survive a restart too
    }
    Update(e, p.state, change);
  };
  // Nothing a download meets (a header, a body, a file from an upstream) may end the
  // process: at worst this job fails.
  Result<PullResult> result = Status::Internal("not run");
  try {
    result = service_.Pull(req, plan, progress, stop);
  } catch (const std::exception& ex) {
    log::Error("job={} threw: {}", id, ex.what());
    result = Status::Internal(std::string("unexpected error: ") + ex.what());
  } catch (...) {
    log::Error("job={} threw", id);
    result = Status::Internal("unexpected error");
  }
  // Installed meanwhile: by another process, or by this job's own run that the process
  // did not live to record (killed between the install's commit and the job's record).
  // Either way the model the job asked for is there.
  if (!result.has_value() && result.error().code() == Status::Code::kAlreadyExists && !req.force) {
    if (auto installed = service_.Info(req.ref); installed.has_value()) {
      PullResult done;
      done.model = std::move(installed.value());
      result = std::move(done);
    }
  }

  Locked lock(this);
  Entry& e = jobs_.at(id);
  e.running = false;
  e.plan.reset();  // a retry resolves again: links expire
  --running_;
  e.interrupted_runs = 0;  // this run ended on its own
  e.job.finished_at = UnixSeconds();
  e.job.last.bytes_per_second = 0;
  e.job.last.stalled = false;
  if (e.after_stop == "remove") {
    MarkCancelled(e);
    Forget(id);
  } else if (result.has_value()) {
    e.job.result = result->model;
    e.job.last.bytes_total = result->model.size;
    e.job.last.bytes_done = result->model.size;
    e.job.last.eta_seconds = 0;
    for (auto& f : e.job.last.files) {
      f.state = JobState::kCompleted;
      if (f.total) f.done = *f.total;
    }
    Update(e, JobState::kCompleted, true);
    CountFinishedJob(JobState::kCompleted, Status::OK());
  } else if (e.after_stop == "shutdown") {
    // Queued again for the next start's Recover(); not counted as an interrupted run.
    e.job.last.state = JobState::kQueued;
    Persist(e);
  } else if (e.after_stop == "requeue") {
    Update(e, JobState::kQueued, true);
  } else if (e.after_stop == "pause") {
    e.job.last.eta_seconds.reset();
    Update(e, JobState::kPaused, true);
  } else if (e.after_stop == "cancel" || result.error().code() == Status::Code::kCancelled) {
    MarkCancelled(e);
  } else {
    // Messages may quote URLs: their credentials stay out of every listing and stream.
    e.job.error = result.error();
    e.job.last.status = Redacted(result.error());
    Update(e, JobState::kFailed, true);
    CountFinishedJob(JobState::kFailed, result.error());
  }
  if (auto it = jobs_.find(id); it != jobs_.end()) it->second.stop = std::make_unique<StopSignal>();
  // This thread is done with the job: joined by the next Submit (or the destructor).
  if (auto t = threads_.find(std::this_thread::get_id()); t != threads_.end()) {
    finished_threads_.push_back(std::move(t->second));
    threads_.erase(t);
  }
  Pump();
  cv_.SignalAll();
}

void JobManager::MarkCancelled(Entry& e) {
  doomed_.push_back(PullKey(e.job.request.ref));
  e.job.error = Status::Cancelled("cancelled by user");
  e.job.last.status = e.job.error;
  Update(e, JobState::kCancelled, true);
  CountFinishedJob(JobState::kCancelled, e.job.error);
}

void JobManager::Forget(const std::string& id) {
  if (auto it = jobs_.find(id); it != jobs_.end()) {
    JobEvent gone = it->second.job.last;
    gone.job_id = id;
    gone.removed = true;
    gone.state_change = false;
    gone.retry.reset();
    gone.waiting.reset();
    outbox_.push_back(std::move(gone));  // to the subscribers that asked for removals
  }
  jobs_.erase(id);
  order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
  writer_->Delete(id);  // after any record of it still queued
}

Result<JobManager::Entry*> JobManager::Find(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status::NotFound("Download '" + id + "' not found");
  return &it->second;
}

void JobManager::FlushRecordsForTest() { writer_->Flush(); }

Result<int> JobManager::Recover() {
  ReapThreads();
  auto records = service_.store().ListJobs(false);
  if (!records.has_value()) return records.error();
  Locked lock(this);
  int resumed = 0;
  for (const auto& rec : *records) {
    if (jobs_.count(rec.id)) continue;
    int priority = 0;
    auto req = PullRequestFromJson(rec.request, &priority);
    auto state = ParseJobState(rec.state);
    if (!req.has_value() || !state) {
      log::Warn("job={} cannot be recovered: {}", rec.id,
                req.has_value() ? "unknown state '" + rec.state + "'" : req.error().ToString());
      continue;
    }
    Entry e;
    e.job.id = rec.id;
    e.job.request = std::move(req.value());
    EnsureRateLimit(e.job.request);
    e.job.priority = priority;
    e.job.created_at = rec.created_at;
    e.job.last.job_id = rec.id;
    e.job.last.model = e.job.request.ref;
    e.job.last.state = *state;
    e.job.last.bytes_done = rec.bytes_done;
    e.job.last.bytes_total = rec.bytes_total;
    if (!rec.error.empty()) {
      e.job.error = *state == JobState::kCancelled ? Status::Cancelled(rec.error)
                                                   : Status::Internal(rec.error);
      e.job.last.status = e.job.error;
    }
    e.stop = std::make_unique<StopSignal>();
    e.interrupted_runs = rec.interrupted_runs;
    e.run_start_bytes = rec.run_start_bytes;
    bool died_running = IsActive(*state);
    if (died_running) {
      // The process died during this run. A run that moved bytes starts a fresh count.
      e.interrupted_runs = rec.bytes_done > rec.run_start_bytes ? 1 : rec.interrupted_runs + 1;
    }
    bool unfinished = !IsTerminal(*state) && *state != JobState::kPaused;
    auto [it, ok] = jobs_.emplace(rec.id, std::move(e));
    order_.push_back(rec.id);
    Entry& entry = it->second;
    if (died_running && entry.interrupted_runs > kMaxInterruptedRuns) {
      std::string why = "modeld stopped " + std::to_string(entry.interrupted_runs) +
                        " times in a row while this download ran, without it making progress; "
                        "it is not retried again (pull the model again to retry, or remove the "
                        "job with `modeld jobs rm " +
                        rec.id + "`)";
      log::Warn("job={} {}: {}", rec.id, rec.model, why);
      entry.job.error = Status::Internal(why);
      entry.job.last.status = entry.job.error;
      entry.job.finished_at = UnixSeconds();
      Update(entry, JobState::kFailed, true);
      CountFinishedJob(JobState::kFailed, entry.job.error);
      continue;
    }
    if (unfinished) {
      Update(entry, JobState::kQueued, true);
      ++resumed;
    }
  }
  Pump();
  return resumed;
}

}  // namespace modeld::service
