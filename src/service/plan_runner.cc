#include "service/plan_runner.h"

#include <algorithm>
#include <thread>

#include "archive/extract.h"
#include "core/fs.h"
#include "core/log.h"
#include "service/pull_support.h"
#include "service/service_metrics.h"

namespace modeld::service {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxParallelFiles = 4;
// How often a download waiting behind another of the same URL tries the lock again (a
// stop wakes it at once).
constexpr auto kLockRetry = std::chrono::milliseconds(100);

}  // namespace

PlanRunner::PlanRunner(store::Store& store, engine::Engine& engine, const PullRequest& req,
                       const sources::Plan& plan, const ProgressCallback& progress,
                       StopSignal* stop, const ArchiveLimits& limits)
    : store_(store),
      engine_(engine),
      req_(req),
      plan_(plan),
      progress_(progress),
      stop_(stop),
      limits_(limits),
      rate_limit_(req.rate_limit ? req.rate_limit
                  : req.options.max_rate > 0
                      ? std::make_shared<engine::RateLimit>(req.options.max_rate)
                      : nullptr),
      slots_(plan.files.size()) {
  for (size_t i = 0; i < plan.files.size(); ++i) slots_[i].total = plan.files[i].size;
}

fs::path PlanRunner::PartialPath(size_t i) const {
  return PullPartialPath(store_, req_.ref, plan_.files[i].path);
}

// A file the store (or the Hub cache) already has, with the right bytes: no byte to fetch.
std::optional<store::FileEntry> PlanRunner::Reuse(size_t i) {
  const auto& f = plan_.files[i];
  // A forced pull fetches every file again; only a file it cannot fetch (HF_HUB_OFFLINE)
  // comes from the Hub cache, hashed.
  if (req_.force && !f.url.empty()) return std::nullopt;
  if (!req_.force && !f.sha256.empty() && f.size && store_.HasVerifiedBlob(f.sha256, *f.size)) {
    return store::FileEntry{f.path, *f.size, f.sha256};
  }
  // An Ollama blob Ollama's own directory already holds (hashed before it is trusted).
  if (!req_.force && !f.sha256.empty() && f.size && store_.ollama().enabled()) {
    auto adopted = store_.AdoptFromOllama(f.sha256, *f.size);
    if (adopted.has_value() && !adopted->empty())
      return store::FileEntry{f.path, *f.size, *adopted};
  }
  if (!f.hub_etag.empty() && f.size) {
    auto adopted = store_.AdoptFromHubCache(f.hub_repo, f.hub_etag, f.sha256, *f.size);
    if (adopted.has_value() && !adopted->empty())
      return store::FileEntry{f.path, *f.size, *adopted};
  }
  if (f.url.empty() || req_.force) return std::nullopt;
  auto memo = store_.LookupUrl(f.url);
  if (!memo.has_value() || !memo->has_value()) return std::nullopt;
  const auto& hit = **memo;
  if (f.size && *f.size != hit.size) return std::nullopt;
  if (!f.sha256.empty() && f.sha256 != hit.sha256) return std::nullopt;
  // Another digest (sha1, md5, git-sha1) cannot be compared with the memo's sha256:
  // trust the memo only for URLs pinned to content (the Hub's resolve/<commit> URLs).
  if (f.checksum && f.checksum->algorithm != HashAlgorithm::kSha256 && f.hub_etag.empty())
    return std::nullopt;
  if (!store_.HasVerifiedBlob(hit.sha256, hit.size)) return std::nullopt;
  return store::FileEntry{f.path, hit.size, hit.sha256};
}

FileProgress PlanRunner::FileAt(size_t i) const {
  const auto& f = plan_.files[i];
  const Slot& s = slots_[i];
  FileProgress out;
  out.path = f.path;
  if (!f.sha256.empty()) {
    out.digest = "sha256:" + f.sha256;
  } else if (f.checksum) {
    out.digest = f.checksum->ToString();
  }
  out.done = s.done;
  out.total = s.total;
  out.state = FromEngineStage(s.stage);
  out.reused = s.reused;
  out.bytes_per_second = s.rate;
  out.resumed = s.resumed;
  return out;
}

store::AdoptMode PlanRunner::Adoption() const {
  return req_.force ? store::AdoptMode::kReplace : store::AdoptMode::kKeepVerified;
}

std::vector<FileProgress> PlanRunner::FileProgressSnapshot() {
  MutexLock lock(&progress_mu_);
  std::vector<FileProgress> out;
  for (size_t i = 0; i < slots_.size(); ++i) out.push_back(FileAt(i));
  return out;
}

void PlanRunner::Waiting(size_t i) {
  const auto& f = plan_.files[i];
  Progress p;
  p.waiting = WaitingFor(store_, f.url, f.path);
  MutexLock lock(&progress_mu_);  // one event at a time, as Report
  if (progress_) progress_(p);
}

void PlanRunner::Report(size_t i, const engine::TransferEvent* ev) {
  Progress sum;
  MutexLock lock(&progress_mu_);
  if (ev) {
    Slot& s = slots_[i];
    s.stage = ev->stage;
    s.done = ev->done_bytes;
    if (ev->total_bytes) s.total = ev->total_bytes;
    s.rate = ev->terminal() ? 0 : ev->bytes_per_second;
    s.resumed = ev->resumed_bytes;
    s.stalled = ev->stalled;
    if (ev->stage == engine::Stage::kCompleted && s.total) s.done = *s.total;
  } else {  // reused: all of it, at once
    slots_[i].stage = engine::Stage::kCompleted;
    slots_[i].reused = true;
    if (slots_[i].total) slots_[i].done = *slots_[i].total;
  }
  bool all_known = true, all_done = true;
  int downloading = 0, stalled = 0;
  uint64_t total = 0;
  for (size_t k = 0; k < slots_.size(); ++k) {
    const Slot& s = slots_[k];
    sum.done += s.done;
    sum.bytes_per_second += s.rate;
    sum.resumed += s.resumed;
    if (s.total) {
      total += *s.total;
    } else {
      all_known = false;
    }
    all_done = all_done && s.stage == engine::Stage::kCompleted;
    downloading += s.stage == engine::Stage::kDownloading;
    stalled += s.stage == engine::Stage::kDownloading && s.stalled;
    sum.files.push_back(FileAt(k));
  }
  if (all_known) sum.total = total;
  sum.stalled = downloading > 0 && stalled == downloading;  // no file of it moves
  // One file: its own stage (verifying, installing); several: downloading until all
  // are in, then installing.
  sum.state = slots_.size() == 1 && ev && !ev->terminal() ? FromEngineStage(ev->stage)
              : all_done                                  ? JobState::kInstalling
                                                          : JobState::kDownloading;
  if (sum.total && sum.bytes_per_second > 0 && !sum.stalled) {
    sum.eta_seconds =
        static_cast<double>(*sum.total - std::min(*sum.total, sum.done)) / sum.bytes_per_second;
  }
  if (ev && ev->retry) {
    sum.retry =
        RetryNotice{plan_.files[i].path, ev->retry->reason, ev->retry->delay, ev->retry->attempt};
  }
  // Under the lock: the engine's thread and the workers report, and a caller's
  // callback (a terminal progress bar, say) sees one event at a time, in order.
  if (progress_) progress_(sum);
}

Status PlanRunner::Download(size_t i, store::FileEntry* out) {
  const auto& f = plan_.files[i];
  if (f.url.empty()) {
    return Status::Unavailable("HF_HUB_OFFLINE is set and " + f.path + " of " + f.hub_repo +
                               " is not in the Hub cache");
  }
  // One download of one URL at a time, across processes: a second one waits here, then
  // finds the blob the first stored. The wait ends at once when the pull is stopped.
  std::optional<store::FileLock> lock;
  for (bool told = false;; told = true) {
    auto got = store_.TryLock(f.url);
    if (!got.has_value()) return got.error();
    if (got->has_value()) {
      lock = std::move(*got);
      break;
    }
    if (!told) Waiting(i);
    MutexLock l(&active_mu_);
    if (stop_cv_.WaitFor(&active_mu_, kLockRetry,
                         [&]() REQUIRES(active_mu_) { return stopping_; })) {
      return Status::Cancelled("stopped");
    }
  }
  if (auto hit = Reuse(i)) {
    *out = *hit;
    Report(i, nullptr);
    return Status::OK();
  }
  engine::DownloadRequest dl;
  dl.url = f.url;
  dl.dest = PartialPath(i);
  dl.checksum = f.checksum;
  dl.expected_size = f.size;
  dl.headers = f.headers;
  dl.options = ToEngineOptions(req_.options);
  dl.downloaded = &DownloadedBytes(plan_.source);
  dl.rate_limit = rate_limit_;  // the pull's cap holds all its files together
  std::error_code ec;
  fs::create_directories(dl.dest.parent_path(), ec);
  if (ec) return Status::IoError("mkdir " + dl.dest.parent_path().string() + ": " + ec.message());

  struct Outcome {
    Mutex mu;
    CondVar cv;
    std::optional<engine::TransferEvent> event GUARDED_BY(mu);
  } outcome;
  {
    MutexLock l(&active_mu_);
    if (stopping_) return Status::Cancelled("stopped");
    engine::TransferId id = engine_.Submit(dl, [&, i](const engine::TransferEvent& ev) {
      Report(i, &ev);
      if (ev.terminal()) {
        MutexLock fl(&outcome.mu);
        outcome.event = ev;
        outcome.cv.SignalAll();
      }
    });
    active_.insert(id);
  }
  engine::TransferEvent ev;
  {
    MutexLock l(&outcome.mu);
    outcome.cv.Wait(&outcome.mu, [&]() REQUIRES(outcome.mu) { return outcome.event.has_value(); });
    ev = *outcome.event;
  }
  {
    MutexLock l(&active_mu_);
    active_.erase(ev.id);
  }
  if (ev.stage != engine::Stage::kCompleted) {
    Status s = ev.status.ok() ? Status::Cancelled("stopped") : ev.status;
    return plan_.files.size() > 1 && s.code() != Status::Code::kCancelled ? s.WithContext(f.path)
                                                                          : s;
  }
  *out = store::FileEntry{f.path, ev.total_bytes.value_or(0), ev.sha256};
  // Verified just now: it replaces a blob of that digest that is not known good (always,
  // when forced).
  if (Status s = store_.AdoptBlob(dl.dest, ev.sha256, Adoption()); !s.ok()) return s;
  if (Status s = store_.RememberUrl(f.url, *out); !s.ok())
    log::Warn("could not remember {}: {}", f.url, s.ToString());
  return Status::OK();
}

Result<std::vector<store::FileEntry>> PlanRunner::Extract(const store::FileEntry& archive_file,
                                                          const fs::path& from, size_t index) {
  fs::path dest = store_.PartialDir(PullKey(req_.ref)) / ("extract-" + std::to_string(index));
  std::error_code ec;
  fs::remove_all(dest, ec);  // a previous attempt's leftovers
  archive::Limits limits{limits_.max_total_bytes, limits_.max_ratio, limits_.ratio_floor,
                         limits_.max_entries};
  // Never more than the free space, keeping what the store needs besides.
  if (auto avail = AvailableBytes(store_.options().data_dir); avail.has_value()) {
    limits.max_total_bytes = std::min(limits.max_total_bytes, *avail);
  }
  if (progress_) {
    Progress p;
    p.state = JobState::kInstalling;  // extracting is part of installing
    p.done = archive_file.size;
    p.total = archive_file.size;
    progress_(p);
  }
  auto files = archive::Extract(from, dest, limits);
  if (!files.has_value()) return files.error();
  std::vector<store::FileEntry> out;
  std::set<std::string> adopted;
  for (const auto& f : *files) {
    // Hashed as they were written. Links share their target's bytes (and disk file): the
    // first adoption moves them into blobs/.
    if (adopted.insert(f.sha256).second) {
      if (Status s = store_.AdoptBlob(f.disk_path, f.sha256, Adoption()); !s.ok()) return s;
    }
    out.push_back({f.path, f.size, f.sha256});
  }
  fs::remove_all(dest, ec);
  return out;
}

void PlanRunner::StopAll() {
  MutexLock l(&active_mu_);
  stopping_ = true;
  for (auto id : active_) engine_.Stop(id);
  stop_cv_.SignalAll();  // downloads waiting for another's lock
}

Result<std::vector<store::FileEntry>> PlanRunner::Run(RunStats* stats) {
  const size_t n = plan_.files.size();
  std::vector<std::optional<store::FileEntry>> done(n);
  std::vector<size_t> todo;
  for (size_t i = 0; i < n; ++i) {
    done[i] = Reuse(i);
    if (done[i]) {
      Report(i, nullptr);
    } else {
      todo.push_back(i);
    }
  }
  // Space for what is left to fetch, up front, less what partial downloads already hold
  // (the engine checks each file again).
  uint64_t needed = 0;
  for (size_t i : todo) needed += BytesToFetch(store_, req_, plan_.files[i]);
  if (Status s = CheckSpace(store_, needed); !s.ok()) return s;

  if (stop_) stop_->OnRequest([this] { StopAll(); });
  // The workers' shared state. They also fill done[] and stats->downloaded under |mu|;
  // those are read once the workers are joined.
  struct Shared {
    Mutex mu;
    size_t next GUARDED_BY(mu) = 0;
    Status first_error GUARDED_BY(mu);
  } shared;
  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        MutexLock l(&shared.mu);
        if (shared.next >= todo.size() || !shared.first_error.ok()) return;
        i = todo[shared.next++];
      }
      store::FileEntry entry;
      Status s = Download(i, &entry);
      MutexLock l(&shared.mu);
      if (s.ok()) {
        done[i] = entry;
        stats->downloaded = true;
      } else if (shared.first_error.ok()) {
        shared.first_error = s;
        StopAll();  // one file failed: stop the others (their partials stay for a retry)
      }
    }
  };
  std::vector<std::thread> workers;
  size_t parallel = std::min(kMaxParallelFiles, todo.size());
  for (size_t w = 1; w < parallel; ++w) workers.emplace_back(worker);
  if (parallel > 0) worker();
  for (auto& t : workers) t.join();
  if (stop_) stop_->Clear();
  {
    MutexLock l(&progress_mu_);
    for (const auto& s : slots_) stats->resumed_bytes += s.resumed;
  }
  if (stop_ && stop_->requested()) return Status::Cancelled("stopped");
  {
    MutexLock l(&shared.mu);
    if (!shared.first_error.ok()) return shared.first_error;
  }

  // Archives: their contents join the model; the archive itself stays unless cleaned up.
  std::vector<store::FileEntry> files;
  for (size_t i = 0; i < n; ++i) {
    const store::FileEntry& f = *done[i];
    if (!req_.extract || !archive::IsArchive(f.path)) {
      files.push_back(f);
      continue;
    }
    auto extracted = Extract(f, store_.BlobPath(f.sha256), i);
    if (!extracted.has_value()) return extracted.error();
    for (auto& e : *extracted) files.push_back(std::move(e));
    if (req_.keep_archive) {
      files.push_back(f);
    } else {
      stats->extracted_archives.push_back(f.sha256);
    }
  }
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].path == files[i - 1].path) {
      return Status::InvalidArgument("two files of the model would be named '" + files[i].path +
                                     "' (an archive's entry and another file)");
    }
  }
  return files;
}

}  // namespace modeld::service
