#include "service/job_manager.h"

#include <sys/random.h>

#include <algorithm>
#include <chrono>

#include "core/log.h"
#include "core/redact.h"

namespace modeld::service {

namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

bool IsTerminal(const std::string& state) {
  return state == "completed" || state == "failed" || state == "cancelled";
}

// States in which a job's thread was working: a record left in one of these means the
// process died during the run.
bool IsRunning(const std::string& state) {
  return state == "resolving" || state == "downloading" || state == "verifying" ||
         state == "installing";
}

std::string StateFor(engine::Stage stage) {
  switch (stage) {
    case engine::Stage::kQueued: return "queued";
    case engine::Stage::kResolving: return "resolving";
    case engine::Stage::kDownloading: return "downloading";
    case engine::Stage::kVerifying: return "verifying";
    case engine::Stage::kInstalling: return "installing";
    default: return "";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------

uint64_t EventBus::Subscribe(Subscriber fn) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_++;
  subs_[id] = std::make_shared<Subscriber>(std::move(fn));
  return id;
}

void EventBus::Unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  subs_.erase(id);
}

void EventBus::Publish(const JobEvent& ev) {
  std::vector<std::shared_ptr<Subscriber>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, s] : subs_) subs.push_back(s);
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

// ---------------------------------------------------------------------------------------

nlohmann::json PullRequestToJson(const PullRequest& r, int priority) {
  nlohmann::json j;
  j["url"] = r.url;
  j["name"] = r.ref.name;
  j["version"] = r.ref.version;
  if (r.checksum) j["checksum"] = r.checksum->ToString();
  j["headers"] = r.headers;
  j["force"] = r.force;
  j["source"] = r.source;
  j["include"] = r.include;
  j["exclude"] = r.exclude;
  j["quantization"] = r.quantization;
  j["revision"] = r.revision;
  j["extract"] = r.extract;
  j["keep_archive"] = r.keep_archive;
  j["description"] = r.description;
  j["tags"] = r.tags;
  j["metadata"] = r.metadata;
  j["priority"] = priority;
  const auto& o = r.options;
  j["options"] = {{"max_connections", o.max_connections},
                  {"retry_count", o.retry_count},
                  {"connect_timeout_ms", o.connect_timeout.count()},
                  {"stall_timeout_ms", o.stall_timeout.count()},
                  {"progress_timeout_ms", o.progress_timeout.count()},
                  {"total_timeout_ms", o.total_timeout.count()},
                  {"buffer_size", o.buffer_size},
                  {"verify_ssl", o.verify_ssl}};
  return j;
}

Result<PullRequest> PullRequestFromJson(const nlohmann::json& j, int* priority) {
  try {
    PullRequest r;
    r.url = j.value("url", std::string());
    r.ref = {j.at("name").get<std::string>(), j.at("version").get<std::string>()};
    if (j.contains("checksum")) {
      auto c = ParseChecksum(j["checksum"].get<std::string>());
      if (!c.has_value()) return c.error();
      r.checksum = *c;
    }
    r.headers = j.value("headers", std::vector<std::string>{});
    r.force = j.value("force", false);
    r.source = j.value("source", std::string());
    r.include = j.value("include", std::vector<std::string>{});
    r.exclude = j.value("exclude", std::vector<std::string>{});
    r.quantization = j.value("quantization", std::string());
    r.revision = j.value("revision", std::string());
    r.extract = j.value("extract", true);
    r.keep_archive = j.value("keep_archive", false);
    r.description = j.value("description", std::string());
    r.tags = j.value("tags", std::vector<std::string>{});
    r.metadata = j.value("metadata", nlohmann::json::object());
    if (priority) *priority = j.value("priority", 0);
    if (j.contains("options")) {
      const auto& o = j["options"];
      auto& d = r.options;
      d.max_connections = o.value("max_connections", d.max_connections);
      d.retry_count = o.value("retry_count", d.retry_count);
      d.connect_timeout = std::chrono::milliseconds(o.value("connect_timeout_ms", d.connect_timeout.count()));
      d.stall_timeout = std::chrono::milliseconds(o.value("stall_timeout_ms", d.stall_timeout.count()));
      d.progress_timeout =
          std::chrono::milliseconds(o.value("progress_timeout_ms", d.progress_timeout.count()));
      d.total_timeout = std::chrono::milliseconds(o.value("total_timeout_ms", d.total_timeout.count()));
      d.buffer_size = o.value("buffer_size", d.buffer_size);
      d.verify_ssl = o.value("verify_ssl", d.verify_ssl);
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corrupt(std::string("unreadable job request: ") + e.what());
  }
}

// ---------------------------------------------------------------------------------------

class JobManager::Locked {
 public:
  explicit Locked(JobManager* jm) : jm_(jm), lock_(jm->mu_) {}
  ~Locked() {
    std::vector<JobEvent> out;
    out.swap(jm_->outbox_);
    std::vector<std::pair<uint64_t, store::JobRecord>> records;
    records.swap(jm_->persist_outbox_);
    lock_.unlock();
    // Registry writes (an fsync, when the disk is busy with downloads, can take a while)
    // never hold the manager's lock: progress readers are never stuck behind them.
    for (auto& [seq, rec] : records) jm_->Write(seq, std::move(rec));
    for (const auto& ev : out) jm_->bus_.Publish(ev);
  }
  std::unique_lock<std::mutex>& lock() { return lock_; }

 private:
  JobManager* jm_;
  std::unique_lock<std::mutex> lock_;
};

JobManager::JobManager(ModelService& service, int max_concurrent)
    : service_(service), max_concurrent_(std::max(1, max_concurrent)) {}

JobManager::~JobManager() {
  std::unique_lock<std::mutex> lock(mu_);
  shutting_down_ = true;
  for (auto& [id, e] : jobs_) {
    if (e.running) {
      e.after_stop = "shutdown";
      e.stop->Request();
    }
  }
  cv_.wait(lock, [&] { return running_ == 0; });
  std::vector<std::thread> threads = std::move(finished_threads_);
  for (auto& [tid, t] : threads_) threads.push_back(std::move(t));
  threads_.clear();
  lock.unlock();
  for (auto& t : threads) t.join();
}

void JobManager::ReapThreads() {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto self = std::this_thread::get_id();
    if (threads_.count(self)) return;  // a job thread (a subscriber calling in): not here
    for (auto& t : finished_threads_) {
      if (t.get_id() == self) return;
    }
    done.swap(finished_threads_);
  }
  for (auto& t : done) t.join();
}

void JobManager::Write(uint64_t seq, store::JobRecord rec) {
  std::lock_guard<std::mutex> lock(write_mu_);
  uint64_t& last = written_[rec.id];
  if (seq <= last) return;  // a newer record of this job is already in
  last = seq;
  std::string id = rec.id;
  if (rec.state.empty()) {  // Forget()
    written_.erase(id);
    if (Status s = service_.store().DeleteJob(id); !s.ok() && s.code() != Status::Code::kNotFound) {
      log::Warn("job={} cannot delete its record: {}", id, s.ToString());
    }
    return;
  }
  if (Status s = service_.store().SaveJob(std::move(rec)); !s.ok()) {
    log::Warn("job={} cannot record its state: {}", id, s.ToString());
  }
}

void JobManager::Persist(const Entry& e) {
  const Job& job = e.job;
  store::JobRecord rec;
  rec.id = job.id;
  rec.model = job.request.ref.ToString();
  rec.request = PullRequestToJson(job.request, job.priority);
  rec.state = job.last.state;
  rec.bytes_done = job.last.bytes_done;
  rec.bytes_total = job.last.bytes_total;
  rec.error = job.last.error;
  rec.interrupted_runs = e.interrupted_runs;
  rec.run_start_bytes = e.run_start_bytes;
  persist_outbox_.emplace_back(++persist_seq_, std::move(rec));  // written by Locked, unlocked
}

void JobManager::Update(Entry& e, const std::string& state, bool state_change) {
  Job& job = e.job;
  job.last.job_id = job.id;
  job.last.model = job.request.ref.ToString();
  job.last.state = state;
  job.last.terminal = IsTerminal(state);
  job.last.state_change = state_change;
  if (state_change) Persist(e);
  outbox_.push_back(job.last);  // published by Locked once mu_ is released
}

Result<Job> JobManager::Submit(PullRequest request, int priority, bool* joined) {
  ReapThreads();
  if (Status s = ValidateModelName(request.ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(request.ref.version); !s.ok()) return s;
  Locked lock(this);
  if (shutting_down_) return Status::Unavailable("shutting down");
  for (const auto& id : order_) {
    const Entry& e = jobs_.at(id);
    if (e.job.request.ref == request.ref && !IsTerminal(e.job.last.state)) {
      if (joined) *joined = true;
      Entry& live = jobs_.at(id);
      if (live.job.last.state == "paused" && !live.running) {  // asking again resumes it
        Update(live, "queued", true);
        Pump();
      }
      return live.job;
    }
  }
  if (joined) *joined = false;
  Entry e;
  e.job.id = NewJobId();
  e.job.request = std::move(request);
  e.job.priority = priority;
  e.job.created_at = NowSeconds();
  e.stop = std::make_unique<StopSignal>();
  std::string id = e.job.id;
  auto [it, ok] = jobs_.emplace(id, std::move(e));
  order_.push_back(id);
  Update(it->second, "queued", true);
  Pump();
  return it->second.job;
}

void JobManager::Pump() {
  while (running_ < max_concurrent_ && !shutting_down_) {
    Entry* next = nullptr;
    for (const auto& id : order_) {
      Entry& e = jobs_.at(id);
      if (e.running || e.job.last.state != "queued") continue;
      if (!next || e.job.priority > next->job.priority) next = &e;  // ties: oldest first
    }
    if (!next) return;
    next->running = true;
    next->after_stop.clear();
    next->job.started_at = NowSeconds();
    next->run_start_bytes = next->job.last.bytes_done;
    ++running_;
    Update(*next, "resolving", true);
    std::thread t([this, id = next->job.id] { Run(id); });
    auto tid = t.get_id();
    threads_.emplace(tid, std::move(t));
  }
}

void JobManager::Run(std::string id) {
  PullRequest req;
  StopSignal* stop;
  {
    // The record says "running" before any work starts: if this run takes the process
    // down, the next start knows (Recover).
    Locked lock(this);
    Entry& e = jobs_.at(id);
    req = e.job.request;
    stop = e.stop.get();
    Persist(e);
  }
  auto last_persist = std::chrono::steady_clock::now();
  auto progress = [&](const engine::TransferEvent& ev) {
    std::string state = StateFor(ev.stage);
    if (state.empty()) return;  // terminal engine events: the pull's result says it
    Locked lock(this);
    Entry& e = jobs_.at(id);
    if (!e.after_stop.empty()) return;  // stopping: no more progress
    if (e.job.last.bytes_done != ev.done_bytes) e.interrupted_runs = 0;  // it moves
    e.job.last.bytes_done = ev.done_bytes;
    e.job.last.bytes_total = ev.total_bytes;
    e.job.last.bytes_per_second = ev.bytes_per_second;
    e.job.last.eta_seconds = ev.eta_seconds;
    bool change = state != e.job.last.state;
    auto now = std::chrono::steady_clock::now();
    if (!change && now - last_persist >= std::chrono::seconds(1)) {
      last_persist = now;
      Persist(e);  // bytes survive a restart too
    }
    Update(e, state, change);
  };
  // Nothing a download meets (a header, a body, a file from an upstream) may end the
  // process: at worst this job fails.
  Result<PullResult> result = Status::Internal("not run");
  try {
    result = service_.Pull(req, progress, stop);
  } catch (const std::exception& e) {
    log::Error("job={} threw: {}", id, e.what());
    result = Status::Internal(std::string("unexpected error: ") + e.what());
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
  --running_;
  e.interrupted_runs = 0;  // this run ended on its own
  e.job.finished_at = NowSeconds();
  if (e.after_stop == "remove") {
    MarkCancelled(e);
    Forget(id);
  } else if (result.has_value()) {
    e.job.result = result->model;
    e.job.last.bytes_total = result->model.size;
    e.job.last.bytes_done = result->model.size;
    e.job.last.bytes_per_second = 0;
    e.job.last.eta_seconds = 0;
    Update(e, "completed", true);
  } else if (e.after_stop == "shutdown") {
    // Queued again for the next start's Recover(); not counted as an interrupted run.
    e.job.last.state = "queued";
    Persist(e);
  } else if (e.after_stop == "requeue") {
    Update(e, "queued", true);
  } else if (e.after_stop == "pause") {
    e.job.last.bytes_per_second = 0;
    e.job.last.eta_seconds.reset();
    Update(e, "paused", true);
  } else if (e.after_stop == "cancel" || result.error().code() == Status::Code::kCancelled) {
    MarkCancelled(e);
  } else {
    // Messages may quote URLs: their credentials stay out of every listing and stream.
    e.job.error = result.error();
    e.job.last.error = RedactText(result.error().message());
    e.job.last.error_code = std::string(Status::CodeName(result.error().code()));
    Update(e, "failed", true);
  }
  if (auto it = jobs_.find(id); it != jobs_.end()) it->second.stop = std::make_unique<StopSignal>();
  // This thread is done with the job: joined by the next Submit (or the destructor).
  if (auto t = threads_.find(std::this_thread::get_id()); t != threads_.end()) {
    finished_threads_.push_back(std::move(t->second));
    threads_.erase(t);
  }
  Pump();
  cv_.notify_all();
}

void JobManager::Forget(const std::string& id) {
  jobs_.erase(id);
  order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
  // Deleted from the registry in order after any record of it still queued.
  store::JobRecord rec;
  rec.id = id;
  rec.state = "";  // Write() treats an empty state as "delete"
  persist_outbox_.emplace_back(++persist_seq_, std::move(rec));
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
  if (!IsTerminal(e.job.last.state)) MarkCancelled(e);
  Forget(id);
  return Status::OK();
}

void JobManager::MarkCancelled(Entry& e) {
  std::error_code ec;
  std::filesystem::remove_all(service_.store().PartialDir(PullKey(e.job.request.ref)), ec);
  e.job.last.error = "cancelled by user";
  e.job.last.error_code = "Cancelled";
  Update(e, "cancelled", true);
}

Result<JobManager::Entry*> JobManager::Find(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status::NotFound("Download '" + id + "' not found");
  return &it->second;
}

Result<Job> JobManager::Get(const std::string& id) {
  Locked lock(this);
  auto e = Find(id);
  if (!e.has_value()) return e.error();
  return (*e)->job;
}

std::vector<Job> JobManager::List() {
  Locked lock(this);
  std::vector<Job> out;
  for (const auto& id : order_) out.push_back(jobs_.at(id).job);
  return out;
}

Status JobManager::Cancel(const std::string& id) {
  Locked lock(this);
  auto found = Find(id);
  if (!found.has_value()) return found.error();
  Entry& e = **found;
  if (IsTerminal(e.job.last.state)) {
    return Status::FailedPrecondition("Download '" + id + "' is already " + e.job.last.state);
  }
  if (e.running) {
    e.after_stop = "cancel";
    e.stop->Request();
    return Status::OK();
  }
  MarkCancelled(e);
  return Status::OK();
}

Status JobManager::Pause(const std::string& id) {
  Locked lock(this);
  auto found = Find(id);
  if (!found.has_value()) return found.error();
  Entry& e = **found;
  if (IsTerminal(e.job.last.state) || e.job.last.state == "paused") {
    return Status::FailedPrecondition("Download '" + id + "' is " + e.job.last.state +
                                      ": it cannot be paused");
  }
  if (e.running) {
    e.after_stop = "pause";
    e.stop->Request();
    return Status::OK();
  }
  Update(e, "paused", true);
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
  if (e.job.last.state != "paused") {
    return Status::FailedPrecondition("Download '" + id + "' is " + e.job.last.state +
                                      ", not paused");
  }
  Update(e, "queued", true);
  Pump();
  return Status::OK();
}

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
    if (!req.has_value()) {
      log::Warn("job={} cannot be recovered: {}", rec.id, req.error().ToString());
      continue;
    }
    Entry e;
    e.job.id = rec.id;
    e.job.request = std::move(req.value());
    e.job.priority = priority;
    e.job.created_at = rec.created_at;
    e.job.last.job_id = rec.id;
    e.job.last.model = rec.model;
    e.job.last.state = rec.state;
    e.job.last.bytes_done = rec.bytes_done;
    e.job.last.bytes_total = rec.bytes_total;
    e.job.last.error = rec.error;
    e.job.last.terminal = IsTerminal(rec.state);
    e.stop = std::make_unique<StopSignal>();
    e.interrupted_runs = rec.interrupted_runs;
    e.run_start_bytes = rec.run_start_bytes;
    bool died_running = IsRunning(rec.state);
    if (died_running) {
      // The process died during this run. A run that moved bytes starts a fresh count.
      e.interrupted_runs = rec.bytes_done > rec.run_start_bytes ? 1 : rec.interrupted_runs + 1;
    }
    bool unfinished = !IsTerminal(rec.state) && rec.state != "paused";
    auto [it, ok] = jobs_.emplace(rec.id, std::move(e));
    order_.push_back(rec.id);
    Entry& entry = it->second;
    if (died_running && entry.interrupted_runs > kMaxInterruptedRuns) {
      std::string why = "modeld stopped " + std::to_string(entry.interrupted_runs) +
                        " times in a row while this download ran, without it making progress; "
                        "it is not retried again (pull the model again to retry, or remove the "
                        "job with `modeld jobs rm " + rec.id + "`)";
      log::Warn("job={} {}: {}", rec.id, rec.model, why);
      entry.job.error = Status::Internal(why);
      entry.job.last.error = why;
      entry.job.last.error_code = std::string(Status::CodeName(Status::Code::kInternal));
      entry.job.finished_at = NowSeconds();
      Update(entry, "failed", true);
      continue;
    }
    if (unfinished) {
      Update(entry, "queued", true);
      ++resumed;
    }
  }
  Pump();
  return resumed;
}

}  // namespace modeld::service
