#include "service/model_service.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "archive/extract.h"
#include "core/error_reasons.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/ollama.h"
#include "core/time_format.h"
#include "engine/engine.h"
#include "formats/model_metadata.h"
#include "loader/loader.h"
#include "net/http.h"
#include "service/plan_runner.h"
#include "service/pull_support.h"
#include "service/recorded_request.h"
#include "sources/resolver.h"
#include "store/store.h"

namespace modeld::service {

namespace fs = std::filesystem;

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
    bool used =
        std::any_of(files.begin(), files.end(), [&](const auto& f) { return f.sha256 == sha; });
    if (used) continue;
    if (Status s = store.DiscardBlob(sha); !s.ok())
      log::Warn("could not remove archive {}: {}", sha, s.ToString());
  }
}

// Hub files also go into the Hub's cache layout (a snapshot per repository and commit),
// so other tools find them. A courtesy: failures are logged, not returned.
void LinkIntoHubCache(store::Store& store, const sources::Plan& plan,
                      const std::vector<store::FileEntry>& files) {
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

// A model from an Ollama registry also goes into Ollama's own directory (when there is
// one): its blobs linked, then the manifest as the registry sent it. A courtesy, as above.
void LinkIntoOllama(store::Store& store, const sources::Plan& plan,
                    const std::vector<store::FileEntry>& files) {
  if (!store.ollama().enabled() || plan.source != "ollama") return;
  const nlohmann::json& o = plan.metadata.value("ollama", nlohmann::json::object());
  auto name = ParseOllamaName(o.value("name", std::string()));
  const std::string manifest = o.value("manifest", std::string());
  if (!name.has_value() || manifest.empty()) return;
  std::vector<std::string> blobs;
  for (const auto& f : files) blobs.push_back(f.sha256);
  if (Status s = store.ollama().Write(*name, manifest, blobs); !s.ok()) {
    log::Warn("could not write {} into {}: {}", name->Shortest(), store.ollama().dir().string(),
              s.ToString());
  }
}

sources::SourceRequest ToSourceRequest(const PullRequest& req) {
  sources::SourceRequest s;
  bool lookup = !req.lookup.name.empty();
  s.name = lookup ? req.lookup.name : req.ref.name;
  s.version = !lookup                      ? req.ref.version
              : req.lookup.version.empty() ? std::string("latest")
                                           : req.lookup.version;
  s.url = req.url;
  s.source = req.source;
  s.checksum = req.checksum;
  s.headers = req.headers;
  s.include = req.include;
  s.exclude = req.exclude;
  s.quantization = req.quantization;
  s.revision = req.revision;
  s.verify_ssl = req.options.verify_ssl;
  return s;
}

// The seed API's words (its clients may match them), with the typed detail the CLI words
// its own way ("use --force").
Status AlreadyInstalled(const ModelRef& ref, const fs::path& path) {
  return Status::AlreadyExists("Model '" + ref.name + "' version '" + ref.version +
                               "' already exists. Use force_download=true to override.")
      .WithInfo({reason::kAlreadyInstalled, {{"model", ref.ToString()}, {"path", path.string()}}});
}

// The request a pull runs: |req| itself, or, when it names an installed model alone, that
// model's recorded source (so `modeld pull NAME:VERSION` repairs it). A request for
// something other than what is installed is taken as it is, and says so in the log.
PullRequest Effective(const PullRequest& req, const Result<store::ModelInfo>& installed) {
  if (!installed.has_value()) return req;
  std::string differs = RequestDiffers(req, *installed);
  if (differs.empty()) return FromRecordedSource(req, *installed);
  log::Info("{} is installed, but {}: pulling what was asked", req.ref.ToString(), differs);
  return req;
}

}  // namespace

ModelService::ModelService(std::unique_ptr<store::Store> store,
                           std::unique_ptr<engine::Engine> engine,
                           std::shared_ptr<const sources::Resolver> resolver)
    : store_(std::move(store)), base_resolver_(std::move(resolver)), engine_(std::move(engine)) {
  if (!base_resolver_) {
    sources::ResolverConfig config;
    config.hub_cache = store_->options().hf_cache;
    base_resolver_ = std::make_shared<sources::Resolver>(std::move(config));
  }
  {
    MutexLock lock(&catalog_mu_);
    resolver_ = base_resolver_;
  }
  MutexLock lock(&reload_mu_);
  if (Status s = ReloadCatalogsLocked(/*force=*/false); !s.ok()) {
    log::Warn("catalogs folder: {}", s.message());
  }
}

ModelService::~ModelService() = default;

engine::Engine& ModelService::engine() {
  MutexLock lock(&engine_mu_);
  if (!engine_) {
    engine_ = std::make_unique<engine::Engine>();
    engine_->SetMaxRate(max_rate_.load());
    engine_->SetMaxConnectionsPerHost(per_host_.load());
  }
  return *engine_;
}

void ModelService::SetMaxRate(uint64_t bytes_per_second) {
  MutexLock lock(&engine_mu_);
  max_rate_.store(bytes_per_second);
  if (engine_) engine_->SetMaxRate(bytes_per_second);
}

void ModelService::SetMaxConnectionsPerHost(int n) {
  MutexLock lock(&engine_mu_);
  per_host_.store(std::clamp(n, 1, 256));
  if (engine_) engine_->SetMaxConnectionsPerHost(per_host_.load());
}

const fs::path& ModelService::data_dir() const { return store_->options().data_dir; }

Status ModelService::CheckDiskFull() const { return service::CheckDiskFull(*store_); }

void ModelService::set_archive_limits(const ArchiveLimits& limits) { archive_limits_ = limits; }

Result<std::shared_ptr<const sources::Plan>> ModelService::Prepare(const PullRequest& req,
                                                                   PlanSummary* summary) {
  if (Status s = ValidateModelName(req.ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(req.ref.version); !s.ok()) return s;
  // Installed as asked and intact (its files checked as ls checks them): nothing to do.
  // Broken: a repair, from where it came from unless the request says otherwise. Asked
  // for something else (another URL, checksum or Hub selection): that is pulled, and
  // replaces it once verified.
  auto installed = store_->Get(req.ref);
  const PullRequest effective = Effective(req, installed);
  if (!req.force && installed.has_value() && installed->status == "available" &&
      RequestDiffers(req, *installed).empty()) {
    return AlreadyInstalled(req.ref, installed->path);
  }
  // Resolve first: an unknown model or file is NotFound, a gated one PermissionDenied
  // and a full disk NoSpace now, not later. The job reuses the plan.
  auto resolved = resolver()->Resolve(ToSourceRequest(effective));
  if (!resolved.has_value()) return resolved.error();
  auto plan = std::make_shared<const sources::Plan>(std::move(resolved.value()));
  if (plan->TotalSize()) {
    if (Status s = CheckSpace(*store_, BytesToFetch(*store_, effective, *plan)); !s.ok()) return s;
  }
  if (summary) {
    summary->source = plan->source;
    summary->files = plan->files.size();
    summary->total_bytes = plan->TotalSize();
    summary->first_url = plan->files.empty() ? effective.url : plan->files.front().url;
    summary->description = plan->description;
    for (const auto& f : plan->files) summary->file_list.push_back({f.path, f.url, f.size});
  }
  return plan;
}

Result<PullResult> ModelService::Pull(const PullRequest& req, const ProgressCallback& progress,
                                      StopSignal* stop) {
  return Pull(req, nullptr, progress, stop);
}

Result<PullResult> ModelService::Pull(const PullRequest& req,
                                      std::shared_ptr<const sources::Plan> plan,
                                      const ProgressCallback& progress, StopSignal* stop) {
  if (Status s = ValidateModelName(req.ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(req.ref.version); !s.ok()) return s;
  // As Prepare: installed as asked and intact is done, broken is repaired, another
  // request is pulled.
  auto installed = store_->Get(req.ref);
  const PullRequest effective = Effective(req, installed);
  if (!req.force && installed.has_value() && installed->status == "available" &&
      RequestDiffers(req, *installed).empty()) {
    return AlreadyInstalled(req.ref, installed->path);
  }
  if (!plan) {
    auto resolved = resolver()->Resolve(ToSourceRequest(effective));
    if (!resolved.has_value()) return resolved.error();
    plan = std::make_shared<const sources::Plan>(std::move(resolved.value()));
  }
  if (plan->files.empty())
    return Status::NotFound("the source lists no file for " + req.ref.ToString());
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
  auto lock = LockUnlessStopped(*store_, PullKey(req.ref), stop, [&] {
    if (!progress) return;
    Progress p;
    p.waiting = WaitingFor(*store_, PullKey(req.ref), req.ref.ToString());
    progress(p);
  });
  if (!lock.has_value()) return lock.error();
  // From here a Load of it is refused (CheckNotDownloading), and one that raced this
  // check is unloaded before the files are replaced (below).
  {
    MutexLock l(&loader_mu_);
    pulling_.insert(req.ref.ToString());
  }
  struct Unmark {
    ModelService* self;
    std::string key;
    ~Unmark() {
      MutexLock l(&self->loader_mu_);
      self->pulling_.erase(self->pulling_.find(key));
    }
  } unmark{this, req.ref.ToString()};
  PullResult result;
  if (!req.force) {
    // Another process just installed (or repaired) it, as asked.
    if (auto now = store_->Get(req.ref);
        now.has_value() && now->status == "available" && RequestDiffers(req, *now).empty()) {
      result.model = ToModel(now.value());
      return result;
    }
  }
  PlanRunner runner(*store_, engine(), effective, *plan, progress, stop, archive_limits_);
  RunStats stats;
  auto files = runner.Run(&stats);
  if (!files.has_value()) {
    PruneEmptyDirs(store_->PartialDir(PullKey(req.ref)));  // what is left is for a resume
    return files.error();
  }
  result.downloaded = stats.downloaded;
  result.resumed_bytes = stats.resumed_bytes;
  if (progress) {
    Progress p;
    p.state = JobState::kInstalling;
    for (const auto& f : *files) p.done += f.size;
    p.total = p.done;
    p.files = runner.FileProgressSnapshot();
    progress(p);
  }

  store::InstallSpec spec;
  spec.ref = req.ref;
  spec.source = plan->source;
  spec.description = req.description.empty() ? plan->description : req.description;
  spec.tags = req.tags.empty() ? plan->tags : req.tags;
  spec.metadata = plan->metadata;
  for (const auto& [k, v] : req.metadata.items()) spec.metadata[k] = v;
  spec.files = *files;
  // What is inside it, read from the blobs the install links (headers only), on this job's
  // thread. A file that cannot be read is not a failed install: the error is recorded.
  std::vector<formats::ModelFile> inspect;
  for (const auto& f : *files) inspect.push_back({store_->BlobPath(f.sha256), f.path});
  spec.inspection = InspectionJson(formats::InspectModel(inspect));
  // A re-pull or repair replaces the files of a loaded model: it is unloaded first.
  if (loader::Loader* l = PeekLoader()) l->Unload(req.ref.ToString());
  auto done = store_->Install(spec);
  if (!done.has_value()) return done.error();
  result.model = ToModel(done.value());

  DiscardExtractedArchives(*store_, stats.extracted_archives, *files);
  LinkIntoHubCache(*store_, *plan, *files);
  LinkIntoOllama(*store_, *plan, *files);
  std::error_code ec;
  fs::remove_all(store_->PartialDir(PullKey(req.ref)), ec);
  return result;
}

Result<std::vector<Model>> ModelService::List() {
  InspectPending(kInspectionTimePerListing);
  auto models = store_->List();
  if (!models.has_value()) return models.error();
  std::vector<Model> out = ToModels(*models);
  const std::vector<LoadedModelView> loaded = Loaded();
  for (auto& m : out) MarkLoaded(m, loaded);
  return out;
}

void ModelService::InspectPending(std::chrono::milliseconds budget) {
  auto refs = store_->ModelsToInspect(formats::kModelMetadataVersion);
  if (!refs.has_value()) {
    log::Warn("could not list the models to inspect: {}", refs.error().ToString());
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (const ModelRef& ref : *refs) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    auto info = store_->Get(ref);
    if (!info.has_value()) continue;  // removed meanwhile
    Model m = ToModel(*info);
    InspectIfMissing(m);  // a broken model is left for a later listing
  }
}

Status ModelService::ForEachModel(const std::function<void(const Model&)>& fn) {
  InspectPending(kInspectionTimePerListing);
  const std::vector<LoadedModelView> loaded = Loaded();
  return store_->ScanModels([&](const store::ModelInfo& info) {
    Model m = ToModel(info);
    MarkLoaded(m, loaded);
    fn(m);
  });
}

void ModelService::InspectIfMissing(Model& m) {
  if (m.inspection || m.status != "available") return;
  std::vector<formats::ModelFile> files;
  for (const auto& f : m.files) files.push_back({m.path / f.path, f.path});
  if (files.empty()) {  // a listing's model: its files are not read with it
    auto full = store_->Get(m.ref);
    if (!full.has_value()) return;
    for (const auto& f : full->files) files.push_back({m.path / f.path, f.path});
  }
  std::string text = InspectionJson(formats::InspectModel(files));
  if (Status s = store_->SetInspection(m.ref, text); !s.ok()) {
    // Shown all the same; read again next time.
    log::Warn("could not record what is inside {}: {}", m.ref.ToString(), s.ToString());
  }
  m.inspection = ParseInspection(text, UnixSeconds());
}

Result<std::vector<VerifyReport>> ModelService::Reconcile() {
  auto r = store_->Verify(std::nullopt, /*full_hash=*/false);
  if (!r.has_value()) return r.error();
  return ToVerifyReports(*r);
}

Result<Model> ModelService::Info(const ModelRef& ref) {
  auto m = store_->Get(ref);
  if (!m.has_value()) return m.error();
  Model out = ToModel(m.value());
  InspectIfMissing(out);
  MarkLoaded(out, Loaded());
  return out;
}

Result<std::vector<Model>> ModelService::Versions(const std::string& name) {
  if (Status s = ValidateModelName(name); !s.ok()) return s;
  auto v = store_->Versions(name);
  if (!v.has_value()) return v.error();
  std::vector<Model> out = ToModels(*v);
  const std::vector<LoadedModelView> loaded = Loaded();
  for (auto& m : out) {
    InspectIfMissing(m);
    MarkLoaded(m, loaded);
  }
  return out;
}

namespace {

store::CleanupOptions ToStoreOptions(const CleanupOptions& o) {
  store::CleanupOptions out;
  out.hf_cache = o.hf_cache;
  out.dry_run = o.dry_run;
  for (const auto& ref : o.keep_partials_of) out.keep_partials.push_back(PullKey(ref));
  return out;
}

HubLinkedFiles FromStore(const store::HubLinkedBlobs& h) {
  return HubLinkedFiles{h.kept, h.kept_bytes, h.links_removed, h.repos};
}

}  // namespace

Result<RemoveReport> ModelService::Remove(const std::string& name, const std::string& version,
                                          const CleanupOptions& options) {
  // A loaded model is unloaded first (its mapping would keep the removed files' bytes), and
  // a load in progress cancelled.
  if (!version.empty()) {
    Unload({name, version});
  } else if (auto versions = store_->Versions(name); versions.has_value()) {
    for (const auto& v : *versions) Unload(v.ref);
  }
  auto r = store_->Remove(name, version, ToStoreOptions(options));
  if (!r.has_value()) return r.error();
  RemoveReport out;
  out.removed = r->removed;
  out.blobs_removed = r->blobs_removed;
  out.blob_bytes = r->blob_bytes;
  out.freed_bytes = r->freed_bytes;
  out.hf_cache = FromStore(r->hub);
  return out;
}

Result<std::vector<VerifyReport>> ModelService::Verify(const std::optional<ModelRef>& ref,
                                                       bool full_hash, Status* record_error) {
  auto r = store_->Verify(ref, full_hash, nullptr, record_error);
  if (!r.has_value()) return r.error();
  return ToVerifyReports(*r);
}

Result<GcReport> ModelService::Gc(std::chrono::seconds partial_age, const CleanupOptions& options) {
  auto r = store_->Gc(partial_age, ToStoreOptions(options));
  if (!r.has_value()) return r.error();
  GcReport out;
  out.dry_run = r->dry_run;
  out.removals_finished = r->removals_finished;
  out.blobs_removed = r->blobs_removed;
  out.blob_bytes = r->blob_bytes;
  out.content_dirs_removed = r->content_dirs_removed;
  out.partials_removed = r->partials_removed;
  out.partial_bytes = r->partial_bytes;
  out.freed_bytes = r->freed_bytes;
  out.hf_cache = FromStore(r->hub);
  return out;
}

Result<CacheReport> ModelService::Cache() {
  auto r = store_->Cache();
  if (!r.has_value()) return r.error();
  CacheReport out;
  out.data_dir = store_->options().data_dir;
  out.hf_cache = store_->options().hf_cache;
  out.blob_count = r->blob_count;
  out.blob_bytes = r->blob_bytes;
  out.model_count = r->model_count;
  out.logical_bytes = r->logical_bytes;
  out.partial_count = r->partial_count;
  out.partial_bytes = r->partial_bytes;
  out.free_bytes = r->free_bytes;
  out.per_model = r->per_model;
  for (const auto& h : r->hub_repos) {
    out.hf_cache_repos.push_back(
        {h.repo_id, h.path, h.files, h.bytes, h.unused_files, h.unused_bytes});
  }
  out.ollama_models = store_->options().ollama_models;
  out.ollama_dir_models = OllamaDirModels();
  return out;
}

Result<StoreUsage> ModelService::Usage() {
  auto u = store_->Usage();
  if (!u.has_value()) return u.error();
  return StoreUsage{u->model_count, u->blob_count, u->blob_bytes, u->free_bytes};
}

Result<std::vector<RecordedJob>> ModelService::JobRecords() {
  auto records = store_->ListJobs(false);
  if (!records.has_value()) return records.error();
  std::vector<RecordedJob> out;
  for (const auto& r : *records) {
    out.push_back(
        {r.id, r.model, r.state, r.bytes_done, r.bytes_total, r.error, r.created_at, r.updated_at});
  }
  return out;
}

Status ModelService::RemoveJobRecord(const std::string& id) {
  auto rec = store_->GetJob(id);
  if (!rec.has_value()) return rec.error();
  auto state = ParseJobState(rec->state);
  if (!state || !IsTerminal(*state)) {
    auto ref = ParseModelRef(rec->model);
    if (ref.has_value()) {
      // Only if no other unfinished job pulls the same model version.
      auto all = store_->ListJobs(true);
      bool shared = all.has_value() && std::any_of(all->begin(), all->end(), [&](const auto& j) {
                      return j.id != id && j.model == rec->model;
                    });
      if (!shared) {
        // Not while another process pulls it: then its partial download is in use.
        auto lock = store_->TryLock(PullKey(*ref));
        if (lock.has_value() && lock->has_value()) {
          std::error_code ec;
          fs::remove_all(store_->PartialDir(PullKey(*ref)), ec);
        }
      }
    }
  }
  return store_->DeleteJob(id);
}

}  // namespace modeld::service
