// ModelService: the one door under every front end (the CLI and every HTTP dialect).
// It turns "pull this model" into source resolution, engine downloads and a store
// install, and answers list / info / remove / verify / gc / cache / search from the store
// and the catalogs. Front ends see only service-owned types (types.h); the store, the
// engine, the sources and the archive extractor stay behind it.
//
// Download jobs (a queue, states, events) are the JobManager's (job_manager.h), built on
// this class.
//
// Thread safety: safe to call from several threads; Pull and Export block their caller
// (network and disk), as do the store calls (disk): call them off I/O threads.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "service/stop_signal.h"
#include "service/types.h"

namespace modeld {
namespace engine {
class Engine;
}
namespace loader {
class Loader;
}
namespace sources {
class Resolver;
struct Plan;
}  // namespace sources
namespace store {
class Store;
}
}  // namespace modeld

namespace modeld::service {

class HubMirror;
struct MirrorOptions;

class ModelService {
 public:
  // Takes the store. |engine| may be null: one is started on the first download.
  // |resolver| may be null: one from the environment (HF_ENDPOINT, HF_TOKEN, ...) with the
  // store's Hub cache and the default catalog is used. (service/open.h builds all three.)
  ModelService(std::unique_ptr<store::Store> store,
               std::unique_ptr<engine::Engine> engine = nullptr,
               std::shared_ptr<const sources::Resolver> resolver = nullptr);
  ~ModelService();
  ModelService(const ModelService&) = delete;
  ModelService& operator=(const ModelService&) = delete;

  // Resolves |req|, downloads (or reuses) its files and installs them as |req.ref|.
  // Blocks until done. AlreadyExists if installed as |req| asks (recorded_request.h:
  // a request by name alone, or naming what it was pulled with), intact (as List checks
  // it) and !force; a broken installed version is repaired: what is missing or changed is
  // fetched again, from where it came from when |req| names it only (its recorded URL, or
  // the Hub). A request for something else (another URL, checksum, source or Hub
  // selection) is resolved and pulled as any other, and replaces the installed version.
  // Cancelled if |stop| fired (partials are kept for resume); otherwise the source's,
  // engine's or store's error.
  Result<PullResult> Pull(const PullRequest& req, const ProgressCallback& progress,
                          StopSignal* stop = nullptr);

  // Installed models, each file checked with one stat() and no read (there, its size, and
  // the file installed or last verified: size, mtime, inode): "broken" with its problems
  // when one fails or a full verify found it broken. List, ForEachModel, Info and Versions
  // make this same check, so they give one answer; each says which models are loaded.
  //
  // What is inside a model (Model::inspection) is read at install. A model installed
  // before modeld read models has none: Info and Versions read it then (the headers of
  // its files) and record it; List and ForEachModel first read those of as many such
  // models as they can within kInspectionTimePerListing (so a first `ls` of a large store
  // of old models stays quick, and the next listings read the rest).
  Result<std::vector<Model>> List();
  static constexpr std::chrono::milliseconds kInspectionTimePerListing{500};
  // The same, one model at a time (for long listings); |fn| must not call the service.
  Status ForEachModel(const std::function<void(const Model&)>& fn);
  // The same check for every installed model, recorded in the registry (run at server
  // start-up; `modeld verify --quick`).
  Result<std::vector<VerifyReport>> Reconcile();
  // One model, with its files, checked as List checks. NotFound if not installed.
  Result<Model> Info(const ModelRef& ref);
  // Every installed version of |name| (empty when none), checked as List checks.
  Result<std::vector<Model>> Versions(const std::string& name);
  // Removes one version (or all when |version| is empty), unloading it first when it is
  // loaded, freeing the files no other model
  // uses (but those the Hugging Face cache links too, unless |options|.hf_cache). Says what
  // it removed and freed. NotFound if nothing matched.
  Result<RemoveReport> Remove(const std::string& name, const std::string& version,
                              const CleanupOptions& options = {});
  // Hashes every file (|full_hash|; else List's check) and records what it found: the
  // statuses, and the verification records of what hashed right or wrong (so a corrupt
  // blob is never reused). Recording is best effort: when it fails (a full disk) the
  // results are still returned and the failure goes to |record_error| (when given).
  Result<std::vector<VerifyReport>> Verify(const std::optional<ModelRef>& ref, bool full_hash,
                                           Status* record_error = nullptr);
  // Deletes files no model uses (but those the Hugging Face cache links too, unless
  // |options|.hf_cache), orphaned directories and partial downloads older than
  // |partial_age| not in use; with |options|.dry_run, only says what it would.
  Result<GcReport> Gc(std::chrono::seconds partial_age, const CleanupOptions& options = {});
  // Disk use, and the Hugging Face cache's repositories holding modeld's files.
  Result<CacheReport> Cache();
  // The store's size from the registry and one statvfs (no file walked): for metrics.
  Result<StoreUsage> Usage();

  // The GGUF quantization to download from Hub repository |repo| at |revision| ("" for
  // main) when the client names none, as LM Studio picks it (service/quantization.h:
  // Q4_K_M, else the smallest 4-bit, else the smallest): lists the repository through the
  // resolver's Hub configuration (HF_ENDPOINT, HF_TOKEN). "" when it holds no GGUF file,
  // and with HF_HUB_OFFLINE (nothing is asked: the pull takes what the cache holds).
  // ResolveHub's errors: NotFound (repository or revision), PermissionDenied (gated or
  // private), Unavailable, InvalidArgument (bad names). Blocks (network).
  Result<std::string> DefaultQuantization(const std::string& repo, const std::string& revision)
      EXCLUDES(catalog_mu_);

  // What the catalogs offer: models whose name, description or tags contain every word of
  // |words| (all when empty), from the catalog named |source| (all when empty).
  CatalogListing Search(const std::string& words, const std::string& source = "") const
      EXCLUDES(catalog_mu_);

  // The catalogs folder, <data dir>/catalogs/: its Jan model.json files
  // (sources/jan_model.h) form the catalog named "jan", read when the service is made and
  // again by ReloadCatalogs.
  std::filesystem::path catalogs_dir() const;
  // Reads the catalogs folder again when its files changed (names, sizes, times), so that
  // a model.json dropped in is seen without a restart: the catalogs given at start-up plus
  // the folder's, swapped in at once (a pull resolving meanwhile keeps the catalogs it
  // started with). Files that are not valid model.json are skipped and logged. OK when
  // nothing changed. Reads the disk: call it off I/O threads.
  Status ReloadCatalogs() EXCLUDES(reload_mu_, catalog_mu_);
  // Validates Jan model.json |model| (sources::JanModelFromJson: InvalidArgument naming the
  // field), writes it atomically to <catalogs dir>/<id>/model.json (an id holding '/' in one
  // folder, org--name; replacing that id's file) and reloads the catalogs. Returns its entry
  // in the "jan" catalog. IoError when it cannot be written; InvalidArgument when a catalog
  // given at start-up is itself named "jan" (the folder's is then not used).
  Result<CatalogModel> SaveJanModel(const nlohmann::json& model) EXCLUDES(reload_mu_, catalog_mu_);

  // Download jobs as recorded in the registry (oldest first), for `modeld jobs` when no
  // server runs.
  Result<std::vector<RecordedJob>> JobRecords();
  // Forgets a recorded job; when it had not finished, its partial download goes too.
  // NotFound for an unknown id. REQUIRES: no server is running the job.
  Status RemoveJobRecord(const std::string& id);

  // Models held in memory (docs/loader.md), by this process's one loader, made on the
  // first Load with the settings given here (REQUIRES: before the first Load).
  void ConfigureLoader(const LoaderSettings& settings) EXCLUDES(loader_mu_);
  // Maps every installed file of |ref| and faults it in (evicting the least recently used
  // models when the budget needs room), or joins/refreshes its load. Blocks while the
  // pages are read: call it off I/O threads. Errors, each naming the model (Status::Info
  // reasons in core/error_reasons.h):
  //   NotFound (kModelNotInstalled); FailedPrecondition (kModelDownloading) while a job of
  //   the JobManager or another process's pull is downloading it; FailedPrecondition
  //   (kModelBroken) when the store's check of its files finds one missing, of another
  //   size or changed, naming the file; and loader::Loader::Load's (a file missing or
  //   resized since: kModelFileMissing, kModelFileSize; kModelTooLarge, kLoadBudgetBusy,
  //   kMemlockLimit, Cancelled when unloaded meanwhile).
  // keep_alive 0 unloads it (LoadResult::loaded false).
  Result<LoadResult> Load(const ModelRef& ref, const LoadOptions& options) EXCLUDES(loader_mu_);
  // Unloads |ref| (cancels its load in progress); false when it was not loaded. Returns at
  // once (the unmapping runs on the loader's thread).
  bool Unload(const ModelRef& ref) EXCLUDES(loader_mu_);
  size_t UnloadAll() EXCLUDES(loader_mu_);
  // The loaded models (for `ps`), by name and version.
  std::vector<LoadedModelView> Loaded() EXCLUDES(loader_mu_);
  // The budget in bytes (the configured one, or half of the RAM).
  uint64_t max_loaded_bytes() EXCLUDES(loader_mu_);
  // Tells whether a job of this process downloads |ref| (JobManager sets it, and clears it
  // with nullptr before it goes); it must not call the service.
  void set_live_job_check(std::function<bool(const ModelRef&)> check) EXCLUDES(loader_mu_);

  // Models known by name that need not be installed (RegisteredModel; the registered_models
  // table): a client's custom models, and installed models whose files were removed with
  // their entry kept. By ref.
  Result<std::vector<RegisteredModel>> Registered();
  // NotFound when |ref| is not registered.
  Result<RegisteredModel> GetRegistered(const ModelRef& ref);
  // Registers custom model |ref|, to be pulled from |target| (as a user names a model: a
  // URL, hf://org/name, a catalog name; empty: |ref| itself), with a client's |fields| (an
  // object; null for none). InvalidArgument: a bad name, version or target; AlreadyExists: |ref| is
  // installed, or registered already.
  Result<RegisteredModel> CreateCustom(const ModelRef& ref, const std::string& target,
                                       const nlohmann::json& fields);
  // Replaces custom model |ref|'s fields (and its target when |target| is set). NotFound
  // when it is neither registered nor installed; FailedPrecondition when it is not custom
  // (installed, or kept from an install).
  Result<RegisteredModel> UpdateCustom(const ModelRef& ref, const nlohmann::json& fields,
                                       const std::optional<std::string>& target = std::nullopt);
  // Removes installed |ref|'s files as Remove does, and keeps it registered with what it was
  // pulled from (a custom model stays as it was), so that PullRequestFor downloads it again.
  // NotFound when it is not installed.
  Result<RemoveReport> RemoveFilesKeepEntry(const ModelRef& ref, const CleanupOptions& options);
  // Forgets registered |ref| (not its files); false when it was not registered.
  Result<bool> Unregister(const ModelRef& ref);
  // The pull that downloads registered model |m|, installed as |m|.ref.
  Result<PullRequest> PullRequestFor(const RegisteredModel& m);

  // OK, or NoSpace saying the disk holding the store is full and what still works.
  Status CheckDiskFull() const;

  // A second name |to| for the installed model |from|'s files (Ollama's copy): the same
  // blobs, source, metadata and inspection; an Ollama name is written into Ollama's
  // directory too. NotFound (|from|), InvalidArgument (|to|).
  Result<Model> Copy(const ModelRef& from, const ModelRef& to);
  // The bytes of the file |path| of model |m| as Info gave it (with its files): Ollama's
  // template, params, license. NotFound when it has none, InvalidArgument when over
  // |max_bytes|. Reads the blob only: no registry query.
  Result<std::string> ReadModelFile(const Model& m, const std::string& path, size_t max_bytes);
  // Whether the store holds the blob |sha256| (64 hex digits).
  bool HasBlob(const std::string& sha256);
  // The models of Ollama's own directory (none when there is none), as Ollama lists them:
  // a model whose config blob is missing or not JSON is left out.
  std::vector<OllamaDirModel> OllamaDirModels();
  // Removes |name| from Ollama's directory (its manifest, and blobs no other one names).
  Status RemoveFromOllamaDir(const OllamaName& name);
  const std::filesystem::path& data_dir() const;

  // Bounds for extracting archives (the free space caps the total as well).
  void set_archive_limits(const ArchiveLimits& limits);

  // Limits on every download this service runs (its one engine), live: bytes a second
  // over all of them (0: none), and connections to one host at once (1..256, default 16).
  // Safe from any thread.
  void SetMaxRate(uint64_t bytes_per_second) EXCLUDES(engine_mu_);
  uint64_t max_rate() const { return max_rate_.load(); }
  void SetMaxConnectionsPerHost(int n) EXCLUDES(engine_mu_);
  int max_connections_per_host() const { return per_host_.load(); }

  // For tests that arrange or inspect the store directly.
  store::Store& StoreForTest() { return *store_; }

  // The store served as a Hugging Face Hub endpoint (hub_mirror.h), over this service's
  // store and engine. It must be destroyed before the service.
  std::unique_ptr<HubMirror> MakeHubMirror(const MirrorOptions& options);

 private:
  friend class JobManager;

  // The pre-flight of a pull, for JobManager::Submit: AlreadyExists if installed as asked
  // (as Pull decides), intact and !force, the source's error if it cannot be resolved,
  // NoSpace if what is left to fetch does not fit. Fills |summary|. Blocks (network).
  Result<std::shared_ptr<const sources::Plan>> Prepare(const PullRequest& req,
                                                       PlanSummary* summary);
  // Pull with a plan already resolved (null: resolve it).
  Result<PullResult> Pull(const PullRequest& req, std::shared_ptr<const sources::Plan> plan,
                          const ProgressCallback& progress, StopSignal* stop);
  store::Store& store() { return *store_; }
  engine::Engine& engine() EXCLUDES(engine_mu_);
  // The loader, made on first use; null from PeekLoader when none was made yet.
  loader::Loader& loader() EXCLUDES(loader_mu_);
  loader::Loader* PeekLoader() EXCLUDES(loader_mu_);
  // FailedPrecondition (kModelDownloading) when |ref| is being downloaded (see Load).
  Status CheckNotDownloading(const ModelRef& ref) EXCLUDES(loader_mu_);
  // Sets |m|'s |loaded| from |loaded| (keys "name:version").
  static void MarkLoaded(Model& m, const std::vector<LoadedModelView>& loaded);
  // Reads and records the inspection of installed model |m| when it has none (or an
  // outdated one) and is available.
  void InspectIfMissing(Model& m);
  // The same for the models the store lists as not inspected, for at most |budget|.
  void InspectPending(std::chrono::milliseconds budget);

  // The resolver in use (readers copy the pointer, so a reload never pulls a catalog from
  // under a pull).
  std::shared_ptr<const sources::Resolver> resolver() const EXCLUDES(catalog_mu_);
  Status ReloadCatalogsLocked(bool force) REQUIRES(reload_mu_) EXCLUDES(catalog_mu_);

  std::unique_ptr<store::Store> store_;
  // The resolver given (or made) at construction: the catalogs of the start-up, without
  // the catalogs folder's.
  std::shared_ptr<const sources::Resolver> base_resolver_;
  Mutex reload_mu_;  // one reload at a time; taken before catalog_mu_
  std::string jan_fingerprint_ GUARDED_BY(reload_mu_);  // of the folder last read
  mutable Mutex catalog_mu_;
  std::shared_ptr<const sources::Resolver> resolver_ GUARDED_BY(catalog_mu_);
  ArchiveLimits archive_limits_;
  Mutex engine_mu_;
  std::unique_ptr<engine::Engine> engine_ GUARDED_BY(engine_mu_);  // made on first use
  std::atomic<uint64_t> max_rate_{0};  // applied to engine_ when it is made, and on change
  std::atomic<int> per_host_{16};
  // Declared last: destroyed first, after every front end has stopped calling.
  Mutex loader_mu_;
  LoaderSettings loader_settings_ GUARDED_BY(loader_mu_);
  std::function<bool(const ModelRef&)> live_job_check_ GUARDED_BY(loader_mu_);
  std::multiset<std::string> pulling_ GUARDED_BY(loader_mu_);      // refs Pull is working on
  std::unique_ptr<loader::Loader> loader_ GUARDED_BY(loader_mu_);  // made on first use
};

// Downloads one URL to a file outside any store (`modeld pull URL -o FILE`): segmented,
// resumable (run it again after an interruption), verified, installed atomically. Blocks.
// Cancelled when |stop| fired (the partial is kept); otherwise ExportDestination's or the
// engine's error.
Result<ExportResult> Export(const ExportRequest& req, const ProgressCallback& progress,
                            StopSignal* stop = nullptr);

// The file Export writes: |req.path|, or with |req.into_directory| the file's name in that
// directory (`-o DIR/`, as curl --output-dir and aria2c -d): the name the server gives
// (Content-Disposition), else the URL's last path segment. The directory is made when
// missing and must be one this process can write into; both are checked before any byte
// of the file is fetched: InvalidArgument (not a directory, no usable file name),
// PermissionDenied or IoError naming the directory, or the server's answer to a probe
// (NotFound, PermissionDenied). Blocks (one small request).
Result<std::filesystem::path> ExportDestination(const ExportRequest& req);

// A model name from a URL: the file name without its extension ("resnet50.pth" ->
// "resnet50"), made safe; "model" if nothing usable is left.
std::string ModelNameFromUrl(const std::string& url);

}  // namespace modeld::service
