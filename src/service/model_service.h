// ModelService: the one API under every front end (CLI today; HTTP dialects next).
// It turns "pull this model" into engine downloads and store installs, and answers
// list/info/remove/verify/gc/cache from the store.
//
// Thread safety: safe to call from several threads; Pull blocks its caller.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/checksum.h"
#include "core/status.h"
#include "archive/extract.h"
#include "engine/engine.h"
#include "sources/resolver.h"
#include "store/store.h"

namespace modeld::service {

// Lets one thread stop an operation another thread is blocked in.
class StopSignal {
 public:
  void Request();
  bool requested() const { return requested_; }
  // Runs |fn| now if a stop was already requested, else on the first Request().
  void OnRequest(std::function<void()> fn);
  void Clear();

 private:
  std::mutex mu_;
  std::atomic<bool> requested_{false};
  std::function<void()> fn_;  // GUARDED_BY(mu_)
};

struct PullRequest {
  std::string url;      // download_url: fetched directly, overriding any lookup
  ModelRef ref;  // validated by the caller or by Pull
  std::optional<Checksum> checksum;
  std::vector<std::string> headers;
  engine::DownloadOptions options;
  bool force = false;  // replace an installed version, fetching again
  std::string source;  // "" (decided by the Resolver), "huggingface", "url", a catalog
  std::string description;
  std::vector<std::string> tags;
  nlohmann::json metadata = nlohmann::json::object();
  // Hub selection (sources::SourceRequest).
  std::vector<std::string> include, exclude;
  std::string quantization, revision;
  bool extract = true;        // extract .zip/.tar.* files into the model
  bool keep_archive = false;  // keep the archive too (!cleanup_temp_files)
  // Already resolved (by the API, to answer 404/413 up front); not persisted.
  std::shared_ptr<const sources::Plan> plan;
};

struct PullResult {
  store::ModelInfo model;
  bool downloaded = false;  // false when every file was already in the store
  uint64_t resumed_bytes = 0;
  std::string sha256;       // the first file's
};

// The key of one model version's pull: its partial dir and lock (Store::PartialDir/Lock).
std::string PullKey(const ModelRef& ref);
// The lock of |key| (Store::TryLock), waiting while another process holds it; Cancelled
// at once when |stop| (may be null) fires. Replaces |stop|'s OnRequest callback.
Result<store::FileLock> LockUnlessStopped(store::Store& store, const std::string& key, StopSignal* stop);
// NoSpace, worded as the seed API's 413 ("Insufficient storage space. Required: ...,
// Available: ..."), when the data dir's file system has less than |bytes| free.
Status CheckSpace(const store::Store& store, uint64_t bytes);

// Where a pull of |ref| downloads |path| (the engine writes it as this + ".part").
std::filesystem::path PullPartialPath(const store::Store& store, const ModelRef& ref,
                                      const std::string& path);
// The bytes a pull of |file| for |req| still has to write, for up-front space checks:
// nothing when the store has its blob (by sha256, or from an earlier download of its URL
// unless req.force) or the Hub cache has it (linked, not copied); otherwise its size less
// what its partial download already holds on disk. A file of unknown size counts 0.
uint64_t BytesToFetch(store::Store& store, const PullRequest& req,
                      const sources::PlannedFile& file);
// The same for every file of |plan|: a retry whose bytes are already in blobs/ needs none.
uint64_t BytesToFetch(store::Store& store, const PullRequest& req, const sources::Plan& plan);

// Less than this free on the data dir's file system is a full disk (CheckDiskFull).
constexpr uint64_t kDiskFullBytes = 1 << 20;
// OK, or NoSpace saying that the disk holding the store is full (less than kDiskFullBytes
// free, or the registry could only be opened read-only) and that downloads will fail
// until space is freed. Listing, rm, gc and DELETE /models/NAME work all the same.
Status CheckDiskFull(const store::Store& store);

class ModelService {
 public:
  // |engine| may be null: one is started on the first Pull. |resolver| may be null: one
  // from the environment (HF_ENDPOINT, HF_TOKEN, ...) and the store's Hub cache is used.
  ModelService(std::unique_ptr<store::Store> store, std::unique_ptr<engine::Engine> engine = nullptr,
               std::shared_ptr<const sources::Resolver> resolver = nullptr);
  ~ModelService();

  // What |req| would fetch: its source's files with sizes and digests. Blocks (network).
  Result<sources::Plan> Resolve(const PullRequest& req) const;

  // Resolves |req| (unless req.plan is set), downloads (or reuses) its files and installs
  // them as |req.ref|. Blocks until done. AlreadyExists if installed and !force;
  // Cancelled if |stop| fired (partials are kept for resume); otherwise the source's,
  // engine's or store's error.
  Result<PullResult> Pull(const PullRequest& req, const engine::EventCallback& progress,
                          StopSignal* stop = nullptr);

  // The registry's view (statuses as last checked): fast, no file system walk.
  Result<std::vector<store::ModelInfo>> List();
  // The same, one model at a time (for long listings).
  Status ForEachModel(const std::function<void(const store::ModelInfo&)>& fn);
  // Size-checks every installed model's files and marks missing or changed ones broken
  // (run at server start-up; `modeld verify --quick`).
  Result<std::vector<store::VerifyResult>> Reconcile();
  // One model, its files size-checked first.
  Result<store::ModelInfo> Info(const ModelRef& ref);
  Result<std::vector<store::ModelInfo>> Versions(const std::string& name);
  Result<std::vector<ModelRef>> Remove(const std::string& name, const std::string& version);
  // Recording the statuses found is best effort: when it fails (a full disk) the results
  // are still returned and the failure goes to |record_error| (when given).
  Result<std::vector<store::VerifyResult>> Verify(const std::optional<ModelRef>& ref,
                                                  bool full_hash, Status* record_error = nullptr);
  Result<store::GcReport> Gc(std::chrono::seconds partial_age);
  Result<store::CacheReport> Cache();

  // Download jobs as recorded in the registry (oldest first), for `modeld jobs` when no
  // server runs.
  Result<std::vector<store::JobRecord>> JobRecords();
  // Forgets a recorded job; when it had not finished, its partial download goes too.
  // NotFound for an unknown id. REQUIRES: no server is running the job.
  Status RemoveJobRecord(const std::string& id);

  // Bounds for extracting archives (the free space caps the total as well).
  void set_archive_limits(const archive::Limits& limits) { archive_limits_ = limits; }
  const archive::Limits& archive_limits() const { return archive_limits_; }

  store::Store& store() { return *store_; }
  const sources::Resolver& resolver() const { return *resolver_; }

 private:
  engine::Engine& engine();

  std::unique_ptr<store::Store> store_;
  std::shared_ptr<const sources::Resolver> resolver_;
  archive::Limits archive_limits_;
  std::mutex engine_mu_;
  std::unique_ptr<engine::Engine> engine_;  // GUARDED_BY(engine_mu_) while null
};

// A model name from a URL: the file name without its extension ("resnet50.pth" ->
// "resnet50"), made safe; "model" if nothing usable is left.
std::string ModelNameFromUrl(const std::string& url);

}  // namespace modeld::service
