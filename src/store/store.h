// Store: the registry of models, files and jobs (SQLite in the data dir, or PostgreSQL
// with StoreOptions::registry), and the content-addressed blob cache on disk
// (docs/store.md).
//
//   <data_dir>/registry.sqlite         models, files, jobs, url memo, leases (WAL)
//   <data_dir>/blobs/sha256/<hex>      each distinct file once, read-only
//   <data_dir>/content/<id>/<path>     one installed version: links to blobs
//   <data_dir>/models/<name>/<version> symlink -> ../../content/<id> (the path users open)
//   <data_dir>/partial/<key>/          downloads in progress (.part + .journal)
//   <data_dir>/locks/<key>.lock        flock()s that keep two processes off one download
//   <data_dir>/removing/<content id>   an empty file per removal in progress
//
// Installs are atomic: the new version is built in a fresh content dir, the registry is
// switched in one transaction, then the model's symlink is swapped with rename(). A crash
// at any point leaves the old version or the new one; Open() repairs a symlink left
// behind by a crash between the commit and the swap, and Gc() removes orphans.
//
// A full disk: opening a current registry writes nothing (reading always works, read-only
// if need be), and Remove() and Gc() free blob bytes before they need new blocks, behind
// a removal marker, so an interruption never leaves a model "available" without its files
// (docs/store.md, "A full disk").
//
// Integrity: a blob is reused instead of downloaded only when it is known good, by its
// verification record (store/verification.h: its size, mtime and inode when last hashed)
// or else by hashing it again; a verified download replaces a blob that is not known good.
// Model reads (List, ScanModels, Get, Versions) check each installed file with a stat()
// against its own record, so every one of them gives the same status (docs/store.md).
//
// Its parts: store/paths.h makes every name above; store/schema.h migrates the registry;
// store/registry_db.h keeps its connection usable on a full disk; store/jobs.h is the job
// table; store/verification.h the verification records; store/hub_cache.h the Hugging Face
// cache layout; store/file_ops.h the file-system steps they share. store.cc opens,
// installs, lists and verifies; cleanup.cc removes, collects garbage and reports disk use.
//
// Thread safety: a Store is safe to use from several threads (one mutex guards the
// database). Several processes may share a data dir; with a PostgreSQL registry, several
// machines may share one (a shared file system) and the registry (docs/store.md, "Several
// instances, one registry").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/mutex.h"
#include "core/names.h"
#include "core/status.h"
#include "store/hub_cache.h"
#include "store/jobs.h"
#include "store/leases.h"
#include "store/ollama_layout.h"
#include "store/registered_models.h"
#include "store/verification.h"

namespace modeld::store {

class Db;
class RegistryDb;

struct StoreOptions {
  std::filesystem::path data_dir;
  std::filesystem::path hf_cache;  // the Hugging Face hub cache (HF_HUB_CACHE layout)
  // Ollama's model directory (ollama_layout.h); empty: none.
  std::filesystem::path ollama_models;
  // Where the registry lives: "" for <data_dir>/registry.sqlite, or a PostgreSQL URL
  // ("postgresql://user:password@host:port/database", or "postgres://...": store/postgres.h).
  std::string registry;
};

// --data-dir, else $MODELD_HOME, else $XDG_DATA_HOME/modeld, else ~/.local/share/modeld;
// the Hub cache from $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub;
// Ollama's directory from $OLLAMA_MODELS, else ~/.ollama/models when it exists and is
// writable, else none; the registry from $MODELD_REGISTRY (main's --registry sets it), else
// the data dir's SQLite file.
StoreOptions DefaultStoreOptions(const std::string& data_dir_flag = "");

struct FileEntry {
  std::string path;  // inside the model, validated
  uint64_t size = 0;
  std::string sha256;
  bool operator==(const FileEntry&) const = default;
};

struct ModelInfo {
  ModelRef ref;
  std::string source;
  std::string description;
  std::vector<std::string> tags;
  nlohmann::json metadata;  // an object, or null for none (no allocation per listed model)
  std::string status;       // "available" or "broken"
  int64_t created_at = 0;
  int64_t installed_at = 0;
  std::vector<FileEntry> files;
  uint64_t size = 0;
  std::filesystem::path path;  // models/<name>/<version>
  // An interrupted removal marked it (and its files may be gone): reported "broken"; the
  // next Open, Remove or Gc finishes the removal.
  bool removing = false;
  // Why it is broken ("w.bin: missing", "w.bin: changed since it was verified", ...);
  // empty when it is available.
  std::vector<std::string> problems;
  // What is inside the model, as the service read it from its files (the JSON text of a
  // formats::ModelMetadata, with "error" when they could not be read; the store does not
  // parse it): "" when it was never inspected (installed before modeld read models).
  // Get and Versions give it whole; List and ScanModels without its "gguf_metadata" (every
  // GGUF key/value: tens of KB a model). Separate from |metadata|, the user's own.
  std::string inspection;
  int64_t inspected_at = 0;  // Unix seconds; 0 with no inspection
};

struct InstallSpec {
  ModelRef ref;
  std::string source;
  std::string description;
  std::vector<std::string> tags;
  nlohmann::json metadata = nlohmann::json::object();
  std::vector<FileEntry> files;  // every blob must already be in the store
  std::string inspection;        // ModelInfo::inspection, written with the install; "" none
};

// How Remove and Gc treat what they free.
struct CleanupOptions {
  // Also delete the Hub cache's hard links to the blobs no model uses any more (its
  // blobs/<etag> files and the snapshot links to them), so that their bytes go. Without it
  // such a blob is kept: deleting only modeld's name for it would free no byte.
  bool hf_cache = false;
  bool dry_run = false;  // Gc: find what would go and what it would free; change nothing
  // Gc: the pull keys whose partial downloads stay whatever their age (the partials a
  // server's paused, queued or failed jobs will resume from).
  std::vector<std::string> keep_partials;
};

// Blobs no model uses whose inode the Hugging Face cache links too (a Hub file modeld
// linked there, or took from there): kept by Remove and Gc, or removed from both with
// CleanupOptions::hf_cache.
struct HubLinkedBlobs {
  uint64_t kept = 0, kept_bytes = 0;  // kept, because the Hub cache links them
  uint64_t links_removed = 0;         // with hf_cache: Hub cache files deleted
  std::vector<std::string> repos;     // the Hub repositories ("org/name") linking them
};

struct RemoveReport {
  std::vector<ModelRef> removed;
  uint64_t blobs_removed = 0, blob_bytes = 0;  // blobs deleted, and their sizes
  // Given back to the file system: the blobs and installed files whose last link went.
  uint64_t freed_bytes = 0;
  HubLinkedBlobs hub;
};

struct GcReport {
  bool dry_run = false;            // nothing was changed: the counts say what would be
  uint64_t removals_finished = 0;  // interrupted removals finished
  uint64_t blobs_removed = 0, blob_bytes = 0;
  uint64_t content_dirs_removed = 0;
  uint64_t partials_removed = 0, partial_bytes = 0;
  // Given back to the file system: blobs, content and partial files whose last link went.
  uint64_t freed_bytes = 0;
  HubLinkedBlobs hub;
};

// A repository of the Hub cache whose blobs/ holds modeld's blobs (the same inodes).
struct HubCacheRepo {
  std::string repo_id;         // "org/name"
  std::filesystem::path path;  // <hf_cache>/models--org--name
  uint64_t files = 0, bytes = 0;
  uint64_t unused_files = 0, unused_bytes = 0;  // of those, blobs no installed model uses
};

struct CacheReport {
  uint64_t blob_count = 0, blob_bytes = 0;
  uint64_t model_count = 0;
  uint64_t logical_bytes = 0;  // sum of model sizes; > blob_bytes when files are shared
  uint64_t partial_count = 0, partial_bytes = 0;
  uint64_t free_bytes = 0;
  std::vector<std::pair<std::string, uint64_t>> per_model;  // ref, size
  std::vector<HubCacheRepo> hub_repos;                      // by repository id
};

// The store's size in a few numbers, from the registry (no file is walked) and one statvfs.
struct UsageReport {
  uint64_t model_count = 0;
  uint64_t blob_count = 0, blob_bytes = 0;  // distinct blobs the installed models use
  uint64_t free_bytes = 0;                  // free space of the data dir's file system
};

struct VerifyResult {
  ModelRef ref;
  bool ok = true;
  std::vector<std::string> problems;  // "config.json: missing", "w.bin: size 3, want 5"
  bool removing = false;              // its removal was interrupted: rm finishes it (a pull cannot)
};

// How a blob stands against its verification record, from one stat() (no byte is read).
enum class BlobState {
  kMissing,     // not in the store, or not the size asked
  kVerified,    // its size, mtime and inode are those recorded when its bytes last matched
  kUnrecorded,  // there, but never recorded (an older modeld stored it, or recording failed)
  kChanged,     // its stat is not the recorded one: it may have been written to since
};

// What AdoptBlob does with a blob already in the store under the same digest.
enum class AdoptMode {
  kKeepVerified,  // keep it if it is kVerified (one inode for every model); else replace it
  kReplace,       // always replace it (pull --force)
};

// An exclusive flock on a lock file; released on destruction.
class FileLock {
 public:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}

 private:
  UniqueFd fd_;
};

class Store {
 public:
  // Opens the data dir (creating it), migrates the schema, finishes installs a crash
  // interrupted between their commit and their symlink swap (a pending_links row each) and
  // removals a crash interrupted (a removing/ marker each). On a full file system an
  // up-to-date registry still opens and writes nothing; if SQLite cannot even map its
  // index there, the registry is opened read-only (read_only()) and finishing what a crash
  // left is retried later.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();

  const StoreOptions& options() const { return options_; }
  // True while the registry is open read-only (opened on a full or read-only file system).
  // Every write first tries to reopen it read-write, so this clears itself once space is
  // freed; until then writes fail with NoSpace or PermissionDenied. Takes no lock:
  // NO_THREAD_SAFETY_ANALYSIS because registry_'s pointee is PT_GUARDED_BY(mu_), and the
  // analysis cannot tell RegistryDb::read_only(), the one method any thread may call (an
  // atomic), from the others.
  bool read_only() const NO_THREAD_SAFETY_ANALYSIS;
  std::filesystem::path BlobPath(const std::string& sha256) const;
  std::filesystem::path ModelPath(const ModelRef& ref) const;
  // A directory for downloads of |key| (say, a URL): partial/<sha256(key)[0:32]>.
  std::filesystem::path PartialDir(const std::string& key) const;

  // Present and |size| bytes: nothing more (Install's check; never a reason to reuse it).
  bool HasBlob(const std::string& sha256, uint64_t size) const;
  // The blob against its verification record, without reading it. For estimates
  // (service::BytesToFetch); reusing a blob takes HasVerifiedBlob.
  BlobState PeekBlob(const std::string& sha256, uint64_t size) EXCLUDES(mu_);
  // True if blob |sha256| is in the store, |size| bytes, with the right bytes: kVerified, or
  // else hashed now. A blob that hashes right is recorded; one that does not is deleted
  // (it never reaches a model again) and its record forgotten. Every reuse of a blob in
  // place of a download asks this. Blocks for the hash (the disk).
  bool HasVerifiedBlob(const std::string& sha256, uint64_t size) EXCLUDES(mu_);
  // Moves |file| (on the same file system) into blobs/ under |sha256| and records it as
  // verified. A blob already there is kept (and |file| deleted) only if it is kVerified and
  // |mode| is kKeepVerified; otherwise |file| replaces it with one rename(), so a verified
  // download always wins over a blob that is unrecorded, changed or corrupt. Models
  // hard-linked to a replaced blob keep its old inode (and their own records). Recording is
  // best effort (a full disk): unrecorded, the blob is hashed again before its next reuse.
  // REQUIRES: |file| hashes to |sha256|.
  Status AdoptBlob(const std::filesystem::path& file, const std::string& sha256,
                   AdoptMode mode = AdoptMode::kKeepVerified) EXCLUDES(mu_);

  // Deletes the blob (and forgets the URLs that produced it) unless a model uses it.
  Status DiscardBlob(const std::string& sha256) EXCLUDES(mu_);

  // Installs (or replaces) a model version from blobs in the store, recording each
  // installed file's stamp (store/verification.h). Atomic.
  // InvalidArgument for bad names or paths, NotFound if a blob is missing.
  Result<ModelInfo> Install(const InstallSpec& spec) EXCLUDES(mu_);
  // The reads below give each model the status one stat() per file finds: "broken" (with
  // its problems) when a file is missing, has another size or is not the file installed or
  // last verified (its stamp differs), when a full verify found it broken, or when its
  // removal was interrupted; else "available". They read no file's bytes and write nothing.
  Result<std::vector<ModelInfo>> List(bool with_files = false) EXCLUDES(mu_);
  // Calls |fn| for each installed model in name order, without files, reusing one record
  // (so listing 10,000 models allocates almost nothing). |fn| must not call the Store.
  Status ScanModels(const std::function<void(const ModelInfo&)>& fn) EXCLUDES(mu_);
  // NotFound if not installed.
  Result<ModelInfo> Get(const ModelRef& ref) EXCLUDES(mu_);
  Result<std::vector<ModelInfo>> Versions(const std::string& name) EXCLUDES(mu_);
  // Records |inspection| (ModelInfo::inspection's JSON text) as the installed version's,
  // read now. For models installed without one: an install writes its own
  // (InstallSpec::inspection), and replaces this. NotFound if not installed.
  Status SetInspection(const ModelRef& ref, const std::string& inspection) EXCLUDES(mu_);
  // The installed models with no inspection, or one whose "version" is below |version| (read
  // by an older modeld), the most recently installed first. Reads no file.
  Result<std::vector<ModelRef>> ModelsToInspect(int version) EXCLUDES(mu_);
  // Removes one version (or all when |version| is empty) and frees the blobs no other
  // model uses, but those the Hub cache links too unless |options|.hf_cache (see
  // CleanupOptions). Returns the removed references and what was freed. NotFound if
  // nothing matched.
  // Works on a full disk: the models are marked (removing/), their files and unused blobs
  // deleted, then the rows; if the registry still cannot be written (NoSpace,
  // PermissionDenied, Unavailable) the error is returned and the models stay marked,
  // reported broken, until the next Open, Remove or Gc finishes the removal.
  Result<RemoveReport> Remove(const std::string& name, const std::string& version,
                              const CleanupOptions& options = {}) EXCLUDES(mu_);

  // Checks every installed file (the reads' stat() check; with |full_hash| its SHA-256
  // instead of its stamp) and records "broken" or "available". Only |only| when given. A
  // stat check never clears a "broken" found by a full check; a model whose removal was
  // interrupted is broken. A full check also records what it hashed: a file whose bytes
  // match gets its stamp (and its blob, if the same inode, a verification record); a blob
  // whose bytes do not match loses its record, so it is hashed before any reuse.
  // |checked|, when given, receives the models with the statuses found.
  // Recording is best effort (a full disk): the results are returned even when it fails,
  // and the failure goes to |record_error| when given, else to the log.
  Result<std::vector<VerifyResult>> Verify(const std::optional<ModelRef>& only, bool full_hash,
                                           std::vector<ModelInfo>* checked = nullptr,
                                           Status* record_error = nullptr) EXCLUDES(mu_);
  // Finishes interrupted removals, then removes orphaned content dirs, partial downloads
  // not in use that are older than |partial_age| (all unlocked ones when zero), and blobs
  // no model uses (but those the Hub cache links too, unless |options|.hf_cache). Files go
  // before the registry is written, so it frees space on a full disk; forgetting the URLs
  // of removed blobs is then best effort (logged). With |options|.dry_run it removes,
  // finishes and records nothing and reports what it would do.
  Result<GcReport> Gc(std::chrono::seconds partial_age = std::chrono::hours(24 * 7),
                      const CleanupOptions& options = {}) EXCLUDES(mu_);
  // Disk use: blobs, models, partial downloads, free space, and the Hub cache's
  // repositories holding modeld's blobs (hard links: the same bytes).
  Result<CacheReport> Cache() EXCLUDES(mu_);
  // Two registry queries and a statvfs: cheap enough for every metrics scrape.
  Result<UsageReport> Usage() EXCLUDES(mu_);

  // Models known by name that need not be installed (store/registered_models.h).
  // Inserts or replaces |m| (by ref; created_at kept).
  Status PutRegisteredModel(const RegisteredModel& m) EXCLUDES(mu_);
  Result<std::optional<RegisteredModel>> GetRegisteredModel(const ModelRef& ref) EXCLUDES(mu_);
  Result<std::vector<RegisteredModel>> ListRegisteredModels() EXCLUDES(mu_);
  // False when |ref| was not registered.
  Result<bool> DeleteRegisteredModel(const ModelRef& ref) EXCLUDES(mu_);

  // Inserts or updates a job (by id). InvalidArgument for an empty id.
  Status SaveJob(JobRecord job) EXCLUDES(mu_);
  // NotFound if there is no such job.
  Result<JobRecord> GetJob(const std::string& id) EXCLUDES(mu_);
  // Oldest first; with |unfinished_only|, jobs not completed, failed or cancelled.
  Result<std::vector<JobRecord>> ListJobs(bool unfinished_only) EXCLUDES(mu_);
  Status DeleteJob(const std::string& id) EXCLUDES(mu_);

  // Remembers which blob a URL produced, so a second pull (even from another process)
  // does not download it again. LookupUrl finds it only while its blob is present; reusing
  // it takes HasVerifiedBlob.
  Result<std::optional<FileEntry>> LookupUrl(const std::string& url) EXCLUDES(mu_);
  Status RememberUrl(const std::string& url, const FileEntry& entry) EXCLUDES(mu_);
  // Blocks until this process holds the lock for |key| (one download of one thing).
  Result<FileLock> Lock(const std::string& key);
  // The same without waiting: nullopt while another holder (this process or another)
  // has it. For waits that must stay cancellable: retry, checking for a stop between.
  Result<std::optional<FileLock>> TryLock(const std::string& key);
  // The process holding the lock of |key| (core/fs.h FlockHolder), when known.
  std::optional<int> LockHolder(const std::string& key) const;

  // Writes |snap| into the Hub cache: blobs/<etag> (hard link or copy of our blob),
  // snapshots/<commit>/<path> (relative symlinks) and refs/<revision>.
  Status LinkHubSnapshot(const HubSnapshot& snap);
  // Ollama's model directory (disabled when StoreOptions::ollama_models is empty).
  const OllamaLayout& ollama() const { return ollama_; }
  // Reuses a blob Ollama's directory holds instead of fetching it: our own when
  // HasVerifiedBlob; else blobs/sha256-<hex> if it is |size| bytes and hashes to |sha256|,
  // adopted as AdoptFromHubCache does. "" (not an error) when absent or not matching.
  Result<std::string> AdoptFromOllama(const std::string& sha256, uint64_t size);
  // A file already in the Hub cache, by its etag; nullopt if absent.
  std::optional<std::filesystem::path> FindHubBlob(const std::string& repo_id,
                                                   const std::string& etag) const;
  std::filesystem::path HubRepoDir(const std::string& repo_id) const;
  // Reuses a file the Hub cache already holds instead of fetching it: our own blob when
  // HasVerifiedBlob; else, if models--<repo>/blobs/<etag> exists, is |size| bytes and
  // hashes to |sha256| (or, when |sha256| is empty, to the git blob id |etag|), it is
  // linked (or copied) into our blobs (AdoptBlob: it replaces a blob of ours that is not
  // known good). Returns the blob's sha256, or "" (not an error) when it is absent or does
  // not match (the caller downloads it then).
  Result<std::string> AdoptFromHubCache(const std::string& repo_id, const std::string& etag,
                                        const std::string& sha256, uint64_t size) EXCLUDES(mu_);

  // The Hub mirror's records (service/hub_mirror.h). A ref is the commit a revision named
  // when it was |checked_at_ms|; a listing is a commit's description and entries as JSON
  // text (immutable: a commit never changes); a mirror blob is a file the mirror holds,
  // by its etag (the LFS sha256, or the git blob id), which gc keeps like a model's file.
  struct HubRef {
    std::string commit;
    int64_t checked_at_ms = 0;
  };
  Result<std::optional<HubRef>> GetHubRef(const std::string& kind, const std::string& repo,
                                          const std::string& revision) EXCLUDES(mu_);
  Status PutHubRef(const std::string& kind, const std::string& repo, const std::string& revision,
                   const HubRef& ref) EXCLUDES(mu_);
  Result<std::optional<std::string>> GetHubListing(const std::string& kind, const std::string& repo,
                                                   const std::string& commit) EXCLUDES(mu_);
  Status PutHubListing(const std::string& kind, const std::string& repo, const std::string& commit,
                       const std::string& listing) EXCLUDES(mu_);
  // The blob a mirrored etag is, while its blob is present and its size right.
  Result<std::optional<FileEntry>> FindMirrorBlob(const std::string& etag) EXCLUDES(mu_);
  // With |fence|, only while that lease is current (checked in the same transaction):
  // FailedPrecondition when it was lost, nothing written.
  Status KeepMirrorBlob(const std::string& etag, const FileEntry& blob,
                        const Lease* fence = nullptr) EXCLUDES(mu_);

  // Leases with fencing tokens, shared by every process using this registry
  // (store/leases.h has the rules). Each call is one write transaction (but GetLease and
  // IsFenceCurrent, which read); expiry is on the registry's clock (Db::NowMs).
  // Takes |name| for |holder| for |ttl| if nobody holds it or the holder's lease expired;
  // nullopt when another holder's lease is still valid. A lease that changes hands gets
  // fence = the previous fence + 1 (per name, never reused, also after Release).
  // Re-acquiring one's own valid lease renews it with the same fence.
  // A valid lease of a holder beginning with |take_from| (when not empty) is taken as if
  // it had expired: for a caller that knows such a holder is gone (the Hub mirror: one
  // of this host's instances, while the caller holds the file lock every one of them
  // fetches under).
  Result<std::optional<Lease>> TryAcquireLease(const std::string& name, const std::string& holder,
                                               std::chrono::milliseconds ttl,
                                               const std::string& take_from = "") EXCLUDES(mu_);
  // Extends a lease still held with the same fence (lease.expires_at_ms updated);
  // FailedPrecondition when it was lost (expired, released or taken).
  Status RenewLease(Lease& lease, std::chrono::milliseconds ttl) EXCLUDES(mu_);
  // Ends it (only if still held with that fence; else a no-op returning OK).
  Status ReleaseLease(const Lease& lease) EXCLUDES(mu_);
  // The current lease of |name| (expired ones too, so a caller can see who held it), or
  // nullopt (never taken, or released).
  Result<std::optional<Lease>> GetLease(const std::string& name) EXCLUDES(mu_);
  // True if |fence| is still the current fence of |name| (and not released). A write the
  // lease guards checks store::FenceIsCurrent in its own transaction where it matters.
  Result<bool> IsFenceCurrent(const std::string& name, int64_t fence) EXCLUDES(mu_);

  // Test hook: the process _exit()s at the named step so tests can check crash
  // consistency: install ("content", "commit", "swap") or remove ("remove-marked": marker
  // written, nothing deleted; "remove-freed": files and blobs deleted, rows not).
  static void SetCrashPointForTest(const std::string& point);

 private:
  // What ForEach reads besides each model's row.
  struct Read {
    bool files = false;  // ModelInfo::files
    bool check = true;   // the stat() check of each file, into status and problems
    // ModelInfo::inspection whole; else without its "gguf_metadata" (listings).
    bool full_inspection = false;
  };
  // One installed file as the registry has it, with its stamp (none before migration 4).
  struct FileRow {
    FileEntry entry;
    std::optional<FileStamp> stamp;
  };
  struct Row {  // one installed version, as Remove needs it
    int64_t id = 0;
    ModelRef ref;
    std::string content_id;
  };

  Store(StoreOptions options, std::unique_ptr<RegistryDb> registry);
  // _exit()s if SetCrashPointForTest named |point|.
  static void MaybeCrash(const char* point);

  // These take mu_ themselves.
  // Brings the schema up to date; writes nothing when it is current (store/schema.h).
  Status Migrate() EXCLUDES(mu_);
  // Points the model symlinks of installs left in pending_links at their content.
  Status RepairLinks() EXCLUDES(mu_);
  Status ClearPendingLink(const ModelRef& ref) EXCLUDES(mu_);
  Result<std::vector<ModelInfo>> Query(const std::string& where,
                                       const std::vector<std::string>& args, Read read)
      EXCLUDES(mu_);
  // Completes the removals whose marker is left (by a crash, or a full disk), adding what
  // they freed to |report| when given.
  Status FinishRemovals(RemoveReport* report = nullptr) EXCLUDES(mu_);
  // Records |stamp| as blob |sha256|'s, best effort (logged when it cannot be written).
  void RecordBlobBestEffort(const std::string& sha256, const FileStamp& stamp) EXCLUDES(mu_);

  // Needs no lock: content ids with a removing/ marker (a readdir of a directory that is
  // nearly always empty).
  std::set<std::string> RemovalMarkers() const;

  // The registry's connection: it changes when a write reopens it read-write (keep no
  // reference to it, or statement on it, across a registry_->WriteTx()).
  Db& db() REQUIRES(mu_);
  // Calls |fn| for each model row matching |where| (an SQL clause over "models m" with
  // ?1.. bound to |args|), in name order, reusing one record; |rows| are its files (read
  // when |read| asks for files or the check).
  Status ForEach(
      const std::string& where, const std::vector<std::string>& args, Read read,
      const std::function<void(int64_t id, const ModelInfo&, const std::vector<FileRow>& rows)>& fn)
      REQUIRES(mu_);
  Result<std::vector<Row>> SelectRows(const std::string& where,
                                      const std::vector<std::string>& args) REQUIRES(mu_);
  // Marks, unlinks, frees and forgets |rows| (Remove's steps, docs/store.md), adding what
  // it freed to |report|. Runs its own write transactions.
  Status RemoveRows(const std::vector<Row>& rows, const CleanupOptions& options,
                    RemoveReport* report) REQUIRES(mu_);
  // The blobs of models |ids| that no other model uses.
  Result<std::vector<std::string>> UnusedDigests(const std::vector<int64_t>& ids) REQUIRES(mu_);

  // REQUIRES (each below): inside registry_->WriteTx (so no install adds a reference
  // meanwhile).
  // Deletes the blob |sha256| and its url memo rows if no model uses it.
  Status RemoveBlobIfUnused(const std::string& sha256, GcReport* rep) REQUIRES(mu_);
  // Deletes the url memo rows and verification records of |digests| (blobs deleted).
  Status ForgetBlobs(const std::vector<std::string>& digests) REQUIRES(mu_);
  // Adopts a file another tool's cache held (StageForeignFile's result): "" when there was
  // none; the temporary name is removed if adopting it fails.
  Result<std::string> AdoptStaged(Result<std::optional<StagedFile>> staged) EXCLUDES(mu_);

  StoreOptions options_;
  HubCache hub_;         // immutable: used without mu_
  OllamaLayout ollama_;  // immutable: used without mu_
  Mutex mu_;
  // The pointer never changes; the registry is used with mu_ held, but for read_only().
  const std::unique_ptr<RegistryDb> registry_ PT_GUARDED_BY(mu_);
};

}  // namespace modeld::store
