#include "service/model_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <set>
#include <tuple>

#include "archive/extract.h"
#include "core/fs.h"
#include "core/log.h"
#include "net/http.h"
#include "service/plan_runner.h"

namespace modeld::service {

namespace fs = std::filesystem;

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

std::string ModelNameFromUrl(const std::string& url) {
  std::string file = net::UrlFileName(url);
  size_t dot = file.find('.');
  std::string stem = dot == std::string::npos || dot == 0 ? file : file.substr(0, dot);
  std::string out;
  for (char c : stem) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '-');
  }
  while (!out.empty() && (out.front() == '-' || out.front() == '.')) out.erase(0, 1);
  if (out.size() > 100) out.resize(100);
  if (out.empty() || !ValidateModelName(out).ok()) return "model";
  return out;
}

namespace {

// Removes the empty directories under (and including) |dir|, deepest first.
void PruneEmptyDirs(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory(ec) && !e.is_symlink(ec)) PruneEmptyDirs(e.path());
  }
  if (fs::is_empty(dir, ec)) fs::remove(dir, ec);
}

// Archives extracted without keep_archive: the archive's blob goes unless a model uses it.
void DiscardExtractedArchives(store::Store& store, const std::vector<std::string>& archives,
                              const std::vector<store::FileEntry>& files) {
  for (const auto& sha : archives) {
    bool used = std::any_of(files.begin(), files.end(), [&](const auto& f) { return f.sha256 == sha; });
    if (used) continue;
    if (Status s = store.DiscardBlob(sha); !s.ok()) log::Warn("could not remove archive {}: {}", sha, s.ToString());
  }
}

// Hub files also go into the Hub's cache layout (a snapshot per repository and commit),
// so other tools find them. A courtesy: failures are logged, not returned.
void LinkIntoHubCache(store::Store& store, const sources::Plan& plan, const std::vector<store::FileEntry>& files) {
  std::map<std::tuple<std::string, std::string, std::string>, store::HubSnapshot> snaps;
  for (const auto& pf : plan.files) {
    if (pf.hub_repo.empty() || pf.hub_etag.empty()) continue;
    for (const auto& f : files) {
      if (f.path != pf.path) continue;
      auto& snap = snaps[{pf.hub_repo, pf.hub_revision, pf.hub_commit}];
      snap.repo_id = pf.hub_repo;
      snap.revision = pf.hub_revision;
      snap.commit = pf.hub_commit;
      // The Hub's own path: a catalog may have renamed the file in the model.
      snap.files.push_back({pf.hub_path, pf.hub_etag, f.sha256});
    }
  }
  for (const auto& [key, snap] : snaps) {
    if (Status s = store.LinkHubSnapshot(snap); !s.ok()) {
      log::Warn("could not write {} into the Hub cache: {}", snap.repo_id, s.ToString());
    }
  }
}

}  // namespace

std::string PullKey(const ModelRef& ref) { return "pull:" + ref.ToString(); }

Result<store::FileLock> LockUnlessStopped(store::Store& store, const std::string& key, StopSignal* stop) {
  struct Wake {
    std::mutex mu;
    std::condition_variable cv;
    bool stopped = false;  // GUARDED_BY(mu)
  };
  auto wake = std::make_shared<Wake>();
  if (stop) {
    stop->OnRequest([wake] {
      std::lock_guard<std::mutex> l(wake->mu);
      wake->stopped = true;
      wake->cv.notify_all();
    });
  }
  Result<store::FileLock> out = Status::Cancelled("stopped while waiting for another download of " + key);
  for (;;) {
    auto got = store.TryLock(key);
    if (!got.has_value()) {
      out = got.error();
      break;
    }
    if (got->has_value()) {
      out = std::move(**got);
      break;
    }
    // Held by another process: flock cannot be waited on with a timeout, so look again
    // every 100 ms (or at once when stopped).
    std::unique_lock<std::mutex> l(wake->mu);
    if (wake->cv.wait_for(l, std::chrono::milliseconds(100), [&] { return wake->stopped; })) break;
  }
  if (stop) stop->Clear();
  return out;
}

Status CheckSpace(const store::Store& store, uint64_t bytes) {
  if (bytes == 0) return Status::OK();
  auto avail = AvailableBytes(store.options().data_dir);
  if (!avail.has_value() || *avail >= bytes) return Status::OK();
  auto mb = [](uint64_t b, bool up) {
    return std::to_string(up ? (b + 999999) / 1000000 : b / 1000000) + "MB";
  };
  return Status::NoSpace("Insufficient storage space. Required: " + mb(bytes, true) +
                         ", Available: " + mb(*avail, false));
}

fs::path PullPartialPath(const store::Store& store, const ModelRef& ref,
                         const std::string& path) {
  return store.PartialDir(PullKey(ref)) / "files" / path;
}

uint64_t BytesToFetch(store::Store& store, const PullRequest& req, const sources::PlannedFile& f) {
  if (!f.size) return 0;
  const uint64_t size = *f.size;
  // The reuses PlanRunner makes (PlanRunner::Reuse), checked without side effects.
  if (!f.sha256.empty() && store.HasBlob(f.sha256, size)) return 0;
  if (!f.hub_etag.empty()) {
    if (auto hub = store.FindHubBlob(f.hub_repo, f.hub_etag)) {
      struct stat st {};
      if (::stat(hub->c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == size) return 0;
    }
  }
  if (!f.url.empty() && !req.force) {
    auto memo = store.LookupUrl(f.url);  // only when its blob is there
    if (memo.has_value() && memo->has_value() && (*memo)->size == size &&
        (f.sha256.empty() || f.sha256 == (*memo)->sha256)) {
      return 0;
    }
  }
  // A partial download: the engine reserved (fallocate) its whole size at its start.
  fs::path part = PullPartialPath(store, req.ref, f.path);
  part += ".part";
  struct stat st {};
  if (::stat(part.c_str(), &st) != 0) return size;
  uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  return size > allocated ? size - allocated : 0;
}

uint64_t BytesToFetch(store::Store& store, const PullRequest& req, const sources::Plan& plan) {
  uint64_t total = 0;
  for (const auto& f : plan.files) total += BytesToFetch(store, req, f);
  return total;
}

Status CheckDiskFull(const store::Store& store) {
  const fs::path& dir = store.options().data_dir;
  auto avail = AvailableBytes(dir);
  if (store.read_only() || (avail.has_value() && *avail < kDiskFullBytes)) {
    return Status::NoSpace("the disk holding " + dir.string() + " is full (" +
                           HumanBytes(avail.has_value() ? *avail : 0) +
                           " free): downloads will fail until space is freed; listing works, and "
                           "rm, gc and DELETE /models/NAME free space");
  }
  return Status::OK();
}

ModelService::ModelService(std::unique_ptr<store::Store> store, std::unique_ptr<engine::Engine> engine,
                           std::shared_ptr<const sources::Resolver> resolver)
    : store_(std::move(store)), resolver_(std::move(resolver)), engine_(std::move(engine)) {
  if (!resolver_) {
    sources::ResolverConfig config;
    config.hub_cache = store_->options().hf_cache;
    resolver_ = std::make_shared<sources::Resolver>(std::move(config));
  }
}

ModelService::~ModelService() = default;

engine::Engine& ModelService::engine() {
  std::lock_guard<std::mutex> lock(engine_mu_);
  if (!engine_) engine_ = std::make_unique<engine::Engine>();
  return *engine_;
}

Result<sources::Plan> ModelService::Resolve(const PullRequest& req) const {
  sources::SourceRequest s;
  s.name = req.ref.name;
  s.version = req.ref.version;
  s.url = req.url;
  s.source = req.source;
  s.checksum = req.checksum;
  s.headers = req.headers;
  s.include = req.include;
  s.exclude = req.exclude;
  s.quantization = req.quantization;
  s.revision = req.revision;
  s.verify_ssl = req.options.verify_ssl;
  return resolver_->Resolve(s);
}

Result<PullResult> ModelService::Pull(const PullRequest& req, const engine::EventCallback& progress,
                                      StopSignal* stop) {
  if (Status s = ValidateModelName(req.ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(req.ref.version); !s.ok()) return s;
  if (!req.force && store_->Get(req.ref).has_value()) {
    return Status::AlreadyExists("Model '" + req.ref.name + "' version '" + req.ref.version +
                                 "' already exists. Use force_download=true to override.");
  }
  std::shared_ptr<const sources::Plan> plan = req.plan;
  if (!plan) {
    auto resolved = Resolve(req);
    if (!resolved.has_value()) return resolved.error();
    plan = std::make_shared<sources::Plan>(std::move(resolved.value()));
  }
  if (plan->files.empty()) return Status::NotFound("the source lists no file for " + req.ref.ToString());
  // Every path comes from a source: check them before any touches the disk.
  std::set<std::string> paths;
  for (const auto& f : plan->files) {
    if (Status s = ValidateRelativePath(f.path); !s.ok()) return s.WithContext(req.ref.ToString());
    if (!paths.insert(f.path).second) {
      return Status::InvalidArgument(req.ref.ToString() + ": two files are named '" + f.path + "'");
    }
  }

  // One pull of one model version at a time, across processes; gc skips its partials.
  // Waiting for another process's pull of it ends at once when this one is stopped.
  auto lock = LockUnlessStopped(*store_, PullKey(req.ref), stop);
  if (!lock.has_value()) return lock.error();
  PullResult result;
  if (!req.force) {
    if (auto now = store_->Get(req.ref); now.has_value()) {  // another process just did it
      result.model = std::move(now.value());
      return result;
    }
  }
  PlanRunner runner(*store_, engine(), req, *plan, progress, stop, archive_limits_);
  RunStats stats;
  auto files = runner.Run(&stats);
  if (!files.has_value()) {
    PruneEmptyDirs(store_->PartialDir(PullKey(req.ref)));  // what is left is for a resume
    return files.error();
  }
  result.downloaded = stats.downloaded;
  result.resumed_bytes = stats.resumed_bytes;
  if (progress) {
    engine::TransferEvent ev;
    ev.stage = engine::Stage::kInstalling;
    for (const auto& f : *files) ev.done_bytes += f.size;
    ev.total_bytes = ev.done_bytes;
    progress(ev);
  }

  store::InstallSpec spec;
  spec.ref = req.ref;
  spec.source = plan->source;
  spec.description = req.description.empty() ? plan->description : req.description;
  spec.tags = req.tags.empty() ? plan->tags : req.tags;
  spec.metadata = plan->metadata;
  for (const auto& [k, v] : req.metadata.items()) spec.metadata[k] = v;
  spec.files = *files;
  auto installed = store_->Install(spec);
  if (!installed.has_value()) return installed.error();
  result.model = std::move(installed.value());
  result.sha256 = files->empty() ? "" : files->front().sha256;

  DiscardExtractedArchives(*store_, stats.extracted_archives, *files);
  LinkIntoHubCache(*store_, *plan, *files);
  std::error_code ec;
  fs::remove_all(store_->PartialDir(PullKey(req.ref)), ec);
  return result;
}

Result<std::vector<store::ModelInfo>> ModelService::List() { return store_->List(); }

Status ModelService::ForEachModel(const std::function<void(const store::ModelInfo&)>& fn) {
  return store_->ScanModels(fn);
}

Result<std::vector<store::VerifyResult>> ModelService::Reconcile() {
  return store_->Verify(std::nullopt, /*full_hash=*/false);
}

Result<store::ModelInfo> ModelService::Info(const ModelRef& ref) {
  std::vector<store::ModelInfo> models;
  auto v = store_->Verify(ref, false, &models);
  if (!v.has_value()) return v.error();
  return std::move(models.front());
}

Result<std::vector<store::ModelInfo>> ModelService::Versions(const std::string& name) {
  return store_->Versions(name);
}

Result<std::vector<ModelRef>> ModelService::Remove(const std::string& name,
                                                          const std::string& version) {
  return store_->Remove(name, version);
}

Result<std::vector<store::VerifyResult>> ModelService::Verify(
    const std::optional<ModelRef>& ref, bool full_hash, Status* record_error) {
  return store_->Verify(ref, full_hash, nullptr, record_error);
}

Result<store::GcReport> ModelService::Gc(std::chrono::seconds partial_age) {
  return store_->Gc(partial_age);
}

Result<store::CacheReport> ModelService::Cache() { return store_->Cache(); }

Result<std::vector<store::JobRecord>> ModelService::JobRecords() { return store_->ListJobs(false); }

Status ModelService::RemoveJobRecord(const std::string& id) {
  auto rec = store_->GetJob(id);
  if (!rec.has_value()) return rec.error();
  bool finished = rec->state == "completed" || rec->state == "failed" || rec->state == "cancelled";
  if (!finished) {
    auto ref = ParseModelRef(rec->model);
    if (ref.has_value()) {
      // Only if no other unfinished job pulls the same model version.
      auto all = store_->ListJobs(true);
      bool shared = all.has_value() && std::any_of(all->begin(), all->end(), [&](const auto& j) {
        return j.id != id && j.model == rec->model;
      });
      if (!shared) {
        auto lock = store_->Lock(PullKey(*ref));  // not while another process pulls it
        std::error_code ec;
        fs::remove_all(store_->PartialDir(PullKey(*ref)), ec);
      }
    }
  }
  return store_->DeleteJob(id);
}

}  // namespace modeld::service
