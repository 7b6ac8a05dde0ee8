#include "service/job_manager.h"

#include <sys/random.h>

#include <algorithm>
#include <chrono>

#include "core/log.h"

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
  for (const auto& s : subs) (*s)(ev);  // outside the lock: a subscriber may unsubscribe
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
  auto threads = std::move(threads_);
  lock.unlock();
  for (auto& t : threads) t.join();
}

void JobManager::Write(uint64_t seq, store::JobRecord rec) {
  std::lock_guard<std::mutex> lock(write_mu_);
  uint64_t& last = written_[rec.id];
  if (seq <= last) return;  // a newer record of this job is already in
  last = seq;
  std::string id = rec.id;
  if (Status s = service_.store().SaveJob(std::move(rec)); !s.ok()) {
    log::Warn("job={} cannot record its state: {}", id, s.ToString());
  }
}

void JobManager::Persist(const Job& job) {
  store::JobRecord rec;
  rec.id = job.id;
  rec.model = job.request.ref.ToString();
  rec.request = PullRequestToJson(job.request, job.priority);
  rec.state = job.last.state;
  rec.bytes_done = job.last.bytes_done;
  rec.bytes_total = job.last.bytes_total;
  rec.error = job.last.error;
  persist_outbox_.emplace_back(++persist_seq_, std::move(rec));  // written by Locked, unlocked
}

void JobManager::Update(Entry& e, const std::string& state, bool state_change) {
  Job& job = e.job;
  job.last.job_id = job.id;
  job.last.model = job.request.ref.ToString();
  job.last.state = state;
  job.last.terminal = IsTerminal(state);
  job.last.state_change = state_change;
  if (state_change) Persist(job);
  outbox_.push_back(job.last);  // published by Locked once mu_ is released
}

Result<Job> JobManager::Submit(PullRequest request, int priority, bool* joined) {
  if (Status s = store::ValidateModelName(request.ref.name); !s.ok()) return s;
  if (Status s = store::ValidateVersion(request.ref.version); !s.ok()) return s;
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
    ++running_;
    Update(*next, "resolving", true);
    threads_.emplace_back([this, id = next->job.id] { Run(id); });
  }
}

void JobManager::Run(std::string id) {
  PullRequest req;
  StopSignal* stop;
  {
    Locked lock(this);
    Entry& e = jobs_.at(id);
    req = e.job.request;
    stop = e.stop.get();
  }
  auto last_persist = std::chrono::steady_clock::now();
  auto progress = [&](const engine::TransferEvent& ev) {
    std::string state = StateFor(ev.stage);
    if (state.empty()) return;  // terminal engine events: the pull's result says it
    Locked lock(this);
    Entry& e = jobs_.at(id);
    if (!e.after_stop.empty()) return;  // stopping: no more progress
    e.job.last.bytes_done = ev.done_bytes;
    e.job.last.bytes_total = ev.total_bytes;
    e.job.last.bytes_per_second = ev.bytes_per_second;
    e.job.last.eta_seconds = ev.eta_seconds;
    bool change = state != e.job.last.state;
    auto now = std::chrono::steady_clock::now();
    if (!change && now - last_persist >= std::chrono::seconds(1)) {
      last_persist = now;
      Persist(e.job);  // bytes survive a restart too
    }
    Update(e, state, change);
  };
  auto result = service_.Pull(req, progress, stop);

  Locked lock(this);
  Entry& e = jobs_.at(id);
  e.running = false;
  --running_;
  e.job.finished_at = NowSeconds();
  if (result.has_value()) {
    e.job.result = result->model;
    e.job.last.bytes_total = result->model.size;
    e.job.last.bytes_done = result->model.size;
    e.job.last.bytes_per_second = 0;
    e.job.last.eta_seconds = 0;
    Update(e, "completed", true);
  } else if (e.after_stop == "shutdown") {
    // Leave the record unfinished: the next run's Recover() resumes it.
    Persist(e.job);
  } else if (e.after_stop == "requeue") {
    Update(e, "queued", true);
  } else if (e.after_stop == "pause") {
    e.job.last.bytes_per_second = 0;
    e.job.last.eta_seconds.reset();
    Update(e, "paused", true);
  } else if (e.after_stop == "cancel" || result.error().code() == Status::Code::kCancelled) {
    MarkCancelled(e);
  } else {
    e.job.error = result.error();
    e.job.last.error = result.error().message();
    e.job.last.error_code = std::string(Status::CodeName(result.error().code()));
    Update(e, "failed", true);
  }
  e.stop = std::make_unique<StopSignal>();
  Pump();
  cv_.notify_all();
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
    bool unfinished = !IsTerminal(rec.state) && rec.state != "paused";
    auto [it, ok] = jobs_.emplace(rec.id, std::move(e));
    order_.push_back(rec.id);
    if (unfinished) {
      Update(it->second, "queued", true);
      ++resumed;
    }
  }
  Pump();
  return resumed;
}

}  // namespace modeld::service
