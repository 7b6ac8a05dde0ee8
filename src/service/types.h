// The service's vocabulary: what front ends (the HTTP dialects in api/, the commands in
// cli/) hand the service and get back. Service-owned: nothing here names an engine,
// store, source or archive type, so a front end depends on service/ and core/ only and
// each layer below may change its own types freely.
//
// Thread safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/checksum.h"
#include "core/names.h"
#include "core/ollama.h"
#include "core/status.h"

namespace modeld::engine {
class RateLimit;  // engine/rate_limit.h
}

namespace modeld::service {

// ---------------------------------------------------------------------------------------
// Jobs.

// Where a job stands: queued -> resolving -> downloading -> verifying -> installing ->
// completed, with paused, cancelled and failed beside them. Every dialect maps these to
// its own words in one switch, so -Wswitch names each dialect when a state is added.
enum class JobState {
  kQueued,
  kResolving,
  kDownloading,
  kVerifying,
  kInstalling,
  kCompleted,
  kPaused,
  kCancelled,
  kFailed,
};

// "queued", "resolving", ...: the words of job records and of the generic API's "state".
std::string_view JobStateName(JobState state);
std::optional<JobState> ParseJobState(std::string_view name);

// The terminal states, defined once: a job in one of these never changes again.
constexpr bool IsTerminal(JobState s) {
  return s == JobState::kCompleted || s == JobState::kCancelled || s == JobState::kFailed;
}
// A job's thread is working on it.
constexpr bool IsActive(JobState s) {
  return s == JobState::kResolving || s == JobState::kDownloading || s == JobState::kVerifying ||
         s == JobState::kInstalling;
}

// One file of a pull (Ollama streams a line per file, a dashboard a row).
struct FileProgress {
  std::string path;    // in the model
  std::string digest;  // "sha256:<hex>", "sha1:<hex>" (the Hub's small files), or ""
  uint64_t done = 0;
  std::optional<uint64_t> total;
  JobState state = JobState::kQueued;  // queued, downloading, verifying, completed
  bool reused = false;                 // taken from the store or the Hub cache, not downloaded
  double bytes_per_second = 0;         // while downloading
  uint64_t resumed = 0;                // bytes already on disk when this run started
};

// A file's download failed and is tried again (engine/retry_policy.h says when).
struct RetryNotice {
  std::string file;    // the file's path in the model ("" for an export)
  std::string reason;  // "connection refused", "HTTP 503", "timed out", ...
  std::chrono::milliseconds delay{0};
  int attempt = 0;  // the attempt about to be made: 2 after the first failure
};

// The pull waits for another download of the same thing to end first (its lock).
struct WaitNotice {
  int pid = 0;                // the holder's process id when known (0: unknown)
  bool this_process = false;  // the holder is another pull of this process (a server's)
  std::string what;           // "NAME:VERSION", or a file's path
};

// A pull's progress, summed over its files.
struct Progress {
  JobState state = JobState::kResolving;  // resolving, downloading, verifying, installing
  uint64_t done = 0;
  std::optional<uint64_t> total;
  uint64_t resumed = 0;  // bytes already on disk when this run started
  double bytes_per_second = 0;
  std::optional<double> eta_seconds;
  // Downloading, and no file of it has received a byte for a while
  // (engine::DownloadOptions::stalled_after): the speed is 0 and the ETA unknown.
  bool stalled = false;
  std::vector<FileProgress> files;
  // Notices. A RetryNotice rides on a progress event (its other fields are as ever); a
  // WaitNotice comes on an event of its own that carries nothing else.
  std::optional<RetryNotice> retry;
  std::optional<WaitNotice> waiting;
};
// Called on download threads: must not block.
using ProgressCallback = std::function<void(const Progress&)>;

// The retry budget when a request sets none: an outage this long does not end a pull.
inline constexpr std::chrono::milliseconds kDefaultRetryFor{120'000};

// How files are fetched: the knobs a front end may turn.
struct DownloadOptions {
  int max_connections = 16;  // per file; small files use fewer (1..64)
  // How long a connection keeps retrying failures without progress before the download
  // fails (its partial kept). Unset: kDefaultRetryFor, or the server's --retry-for for
  // its jobs. 0: no retry.
  std::optional<std::chrono::milliseconds> retry_for;
  int retry_count = -1;  // also at most this many retries in a row; -1: no count
  std::chrono::milliseconds connect_timeout{30'000};
  std::chrono::milliseconds stall_timeout{30'000};      // no byte this long: reconnect
  std::chrono::milliseconds progress_timeout{600'000};  // no progress this long: fail; 0 = never
  std::chrono::milliseconds total_timeout{0};           // the whole file; 0 = none
  std::chrono::milliseconds max_backoff{15'000};        // the longest wait between two tries
  size_t buffer_size = 262144;                          // receive buffer ("chunk_size")
  bool verify_ssl = true;
  // The pull's bytes a second, all its files together; 0: no limit of its own (the
  // server's --max-rate still applies). A job's can change while it runs
  // (JobManager::SetMaxRate).
  uint64_t max_rate = 0;
};

// "Pull this model": by name (a catalog, the Hub, a registry) or from a URL.
struct PullRequest {
  std::string url;  // download_url: fetched directly, overriding any lookup
  ModelRef ref;     // what to install it as (validated by the service)
  // What to look up when it is not |ref|: a catalog model or Hub repository and its
  // version (on the Hub a revision or a quantization; empty: "latest"), installed as |ref|
  // (`--name`, or a Hub selection under a version of its own). Empty name: |ref|.
  ModelRef lookup;
  std::optional<Checksum> checksum;
  std::vector<std::string> headers;  // sent to the URL's own origin only
  DownloadOptions options;
  // Fetch every file again (no blob, URL memo or Hub cache copy is reused) and replace the
  // installed version and any blob of the same digest. Without it, an installed version
  // that is intact and was pulled as this request asks is AlreadyExists, a broken one is
  // repaired, and one pulled from something else (another URL, checksum or Hub
  // selection) is replaced by what this request names.
  bool force = false;
  std::string source;  // "" (decided by name), "huggingface", "url", a catalog's name
  std::string description;
  std::vector<std::string> tags;
  nlohmann::json metadata = nlohmann::json::object();
  // Hub selection.
  std::vector<std::string> include, exclude;
  std::string quantization, revision;
  bool extract = true;        // extract .zip/.tar.* files into the model
  bool keep_archive = false;  // keep the archive too (!cleanup_temp_files)
  // The live form of options.max_rate, shared by the pull's transfers, when its owner
  // (a JobManager) changes it while the pull runs; null: made from options.max_rate.
  std::shared_ptr<engine::RateLimit> rate_limit;
};

// Gives |request| its live rate limit (from options.max_rate) if it has none.
void EnsureRateLimit(PullRequest& request);

// What a pull will fetch, as the pre-flight found it.
struct PlanSummary {
  std::string source;  // "url", "huggingface", a catalog's name
  size_t files = 0;
  std::optional<uint64_t> total_bytes;  // when every file's size is known
  std::string first_url;
  std::string description;
  // Each file: its path in the model, where it comes from (empty when it is already in
  // the Hub cache offline), its size when known. Empty for jobs recovered after a restart.
  struct File {
    std::string path, url;
    std::optional<uint64_t> size;
  };
  std::vector<File> file_list;
};

// ---------------------------------------------------------------------------------------
// The store, as front ends see it.

struct ModelFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;
};

// What is inside a model, read from its files when it was installed (docs/formats.md): the
// service's view of a formats::ModelMetadata, so that front ends need not see formats/.
struct ModelInspection {
  std::string format;        // "gguf", "safetensors", or "" (neither was found)
  std::string architecture;  // "llama", "qwen2", ...
  std::string name;          // GGUF general.name
  std::string quantization;  // "Q4_K_M", "F16", "BF16", ...
  uint64_t parameter_count = 0;
  std::string parameters;  // "494M", "7B"; "" when unknown
  double bits_per_weight = 0;
  uint64_t tensor_bytes = 0;
  uint64_t context_length = 0;
  uint64_t embedding_length = 0;
  uint64_t block_count = 0;
  uint32_t split_count = 0;  // GGUF parts or safetensors shards
  uint64_t tensor_count = 0;
  // Why the files could not be read ("m.gguf: truncated ..."): the fields above are then
  // empty. An inspection failure never fails an install.
  std::string error;
  int64_t inspected_at = 0;  // Unix seconds
  // Everything read, as the registry holds it (formats::ModelMetadataToJson, "error" when
  // set): with every GGUF key/value ("gguf_metadata") from Info and Versions, without it in
  // listings.
  nlohmann::json details;
};

// A model held in memory (docs/loader.md): its files mapped and resident.
struct LoadedState {
  uint64_t instance_id = 0;  // the same while it stays loaded, never reused
  uint64_t bytes = 0;
  uint64_t resident_bytes = 0;  // in RAM now (mincore)
  int64_t since = 0;            // loaded at, Unix seconds
  int64_t last_used = 0;
  std::optional<int64_t> expires_at;  // unloaded then unless used again; nullopt: never
  bool mlocked = false;
  nlohmann::json ToJson() const;  // the fields above; expires_at null for never
};

struct Model {
  ModelRef ref;
  std::string source;
  std::string description;
  std::vector<std::string> tags;
  nlohmann::json metadata;  // an object, or null for none
  std::string status;       // "available" or "broken"
  int64_t created_at = 0;
  int64_t installed_at = 0;
  std::vector<ModelFile> files;  // empty in listings
  uint64_t size = 0;
  std::filesystem::path path;  // the directory users open: <data dir>/models/<name>/<version>
  // Why it is broken, as its files' check found ("w.bin: missing", "w.bin: changed since it
  // was verified", ...); empty when available.
  std::vector<std::string> problems;
  bool removing = false;  // its removal was interrupted: rm finishes it (a pull cannot)
  // What is inside it; nullopt while it has not been read (an older install: see
  // ModelService::List).
  std::optional<ModelInspection> inspection;
  std::optional<LoadedState> loaded;  // when it is held in memory
  // What a user opens: the file of a one-file model, else its directory (|path|). Needs
  // |files|: a listing's models (no files) give their directory.
  std::filesystem::path OpenPath() const;
  // name, version, ref, status, source, description, tags, metadata, size, path,
  // created_at, installed_at, files when known, problems when broken, "inspection" (its
  // details with "inspected_at") when read, and "loaded" (LoadedState) when loaded.
  nlohmann::json ToJson() const;
};

struct PullResult {
  Model model;
  bool downloaded = false;  // false when every file was already in the store
  uint64_t resumed_bytes = 0;
};

struct VerifyReport {
  ModelRef ref;
  bool ok = true;
  std::vector<std::string> problems;  // "config.json: missing", "w.bin: size 3, want 5"
  bool removing = false;              // its removal was interrupted: rm finishes it (a pull cannot)
};

// How rm and gc treat what they free.
struct CleanupOptions {
  // Also delete the Hugging Face cache's hard links to the files no model uses any more,
  // so that their bytes go. Without it such a file is kept in the store: deleting only
  // modeld's name for it would free no byte.
  bool hf_cache = false;
  bool dry_run = false;  // gc: say what would go and what it would free; change nothing
  // gc: the model versions whose partial downloads stay whatever their age (a server's
  // jobs that will resume them: JobManager::PartialsKept).
  std::vector<ModelRef> keep_partials_of;
};

// Files no model uses that the Hugging Face cache links too (the same inode).
struct HubLinkedFiles {
  uint64_t kept = 0, kept_bytes = 0;  // kept, because the Hub cache links them
  uint64_t links_removed = 0;         // with CleanupOptions::hf_cache: Hub cache files deleted
  std::vector<std::string> repos;     // the Hub repositories ("org/name") concerned
  nlohmann::json ToJson() const;
};

struct RemoveReport {
  std::vector<ModelRef> removed;
  uint64_t blobs_removed = 0, blob_bytes = 0;  // the store's files deleted, and their sizes
  uint64_t freed_bytes = 0;                    // given back to the file system
  HubLinkedFiles hf_cache;
};

// A model known by name that need not be installed (ModelService::Registered): one a
// client created to download later (custom), or an installed one whose files were removed
// with its entry kept. Its id (Pieces' Model.id) is ModelUuid(ref), as every model's.
struct RegisteredModel {
  ModelRef ref;
  bool custom = false;  // created by a client, which may change |fields|
  // What to pull for it, as a user names a model (a URL, hf://org/name, a catalog name);
  // empty: what it was pulled with before (kept with its entry), else |ref| itself.
  std::string target;
  bool has_recorded_source = false;  // kept from an install: it knows what it was pulled with
  nlohmann::json fields = nlohmann::json::object();  // the client's own description, as given
  int64_t created_at = 0, updated_at = 0;
};

struct GcReport {
  bool dry_run = false;            // nothing changed: the counts are what would be
  uint64_t removals_finished = 0;  // interrupted removals finished (dry run: to finish)
  uint64_t blobs_removed = 0, blob_bytes = 0;
  uint64_t content_dirs_removed = 0;
  uint64_t partials_removed = 0, partial_bytes = 0;
  uint64_t freed_bytes = 0;  // given back to the file system
  HubLinkedFiles hf_cache;
  nlohmann::json ToJson() const;
};

// A repository of the Hugging Face cache holding modeld's files (hard links: the same
// bytes as the store's).
struct HubCacheRepo {
  std::string repo_id;         // "org/name"
  std::filesystem::path path;  // <hf_cache>/models--org--name
  uint64_t files = 0, bytes = 0;
  uint64_t unused_files = 0, unused_bytes = 0;  // of those, files no installed model uses
};

// A model in Ollama's own directory (OLLAMA_MODELS), for listings: what Ollama lists.
struct OllamaDirModel {
  OllamaName name;
  std::string digest;     // sha256 of the manifest's bytes (Ollama's model digest)
  uint64_t size = 0;      // the blobs', config included
  int64_t modified = 0;   // the manifest's mtime, Unix seconds
  nlohmann::json config;  // the config blob (model_format, model_family, file_type, ...)
};

// The store's size in a few numbers (for metrics): read from the registry, no file walked.
struct StoreUsage {
  uint64_t model_count = 0;
  uint64_t blob_count = 0, blob_bytes = 0;  // distinct blobs the installed models use
  uint64_t free_bytes = 0;                  // free space of the data dir's file system
};

struct CacheReport {
  std::filesystem::path data_dir, hf_cache;
  uint64_t blob_count = 0, blob_bytes = 0;
  uint64_t model_count = 0;
  uint64_t logical_bytes = 0;  // sum of model sizes; > blob_bytes when files are shared
  uint64_t partial_count = 0, partial_bytes = 0;
  uint64_t free_bytes = 0;
  std::vector<std::pair<std::string, uint64_t>> per_model;  // ref, size
  std::vector<HubCacheRepo> hf_cache_repos;                 // by repository id
  // Ollama's own directory ("" when there is none) and the models it holds.
  std::filesystem::path ollama_models;
  std::vector<OllamaDirModel> ollama_dir_models;
  nlohmann::json ToJson() const;
};

// A job as the registry recorded it (for `modeld jobs` when no server runs).
struct RecordedJob {
  std::string id;
  std::string model;  // "name:version"
  std::string state;  // JobStateName words
  uint64_t bytes_done = 0;
  std::optional<uint64_t> bytes_total;
  std::string error;
  int64_t created_at = 0, updated_at = 0;
};

// ---------------------------------------------------------------------------------------
// Models held in memory (ModelService::Load, docs/loader.md).

// How long a loaded model may stay idle: unset = the server's default (--keep-alive, else
// 5 minutes), zero = unload it now, negative = never.
using KeepAlive = std::optional<std::chrono::milliseconds>;

struct LoadOptions {
  bool mlock = false;  // lock its pages in RAM (RLIMIT_MEMLOCK permitting)
  KeepAlive keep_alive;
};

struct LoadResult {
  Model model;          // with |loaded| set (unless keep_alive 0 unloaded it)
  bool loaded = false;  // false for keep_alive 0: the model was unloaded, not loaded
  bool joined = false;  // it was loaded (or being loaded) already: the same instance
  std::chrono::milliseconds load_time{0};
};

// A loaded model, for `ps`.
struct LoadedModelView {
  ModelRef ref;
  LoadedState state;
  nlohmann::json ToJson() const;  // name, version, ref, and LoadedState's fields
};

// The loader of a process (one per process: a server's, or a standalone `modeld load`).
struct LoaderSettings {
  uint64_t max_loaded_bytes = 0;  // the budget for loaded models; 0 = half of the RAM
  KeepAlive default_keep_alive;   // unset: 5 minutes (Ollama's)
};

// An Ollama-style keep_alive: a number of seconds ("300", "-1", "0", "2.5") or a Go duration
// ("5m", "1h30m", "90s", "500ms", "-1s"). Negative: never (-1 ms); zero: 0. InvalidArgument
// saying what is accepted.
Result<std::chrono::milliseconds> ParseKeepAlive(std::string_view text);

// ---------------------------------------------------------------------------------------
// Catalogs: what can be pulled by name.

struct CatalogSource {
  std::string name, origin;
  size_t models = 0;
};
struct CatalogVersionInfo {
  std::string version;
  std::optional<uint64_t> size;  // when every file's size is known
};
struct CatalogModel {
  std::string catalog;
  std::string name;
  std::string description;
  std::vector<std::string> tags;
  std::vector<CatalogVersionInfo> versions;
  nlohmann::json json;  // the catalog's full entry, as GET /catalog shows it
  nlohmann::json jan;   // an entry from a Jan model.json: the model.json as given; else null
};
struct CatalogListing {
  std::vector<CatalogSource> sources;  // every catalog, whatever was searched
  std::vector<CatalogModel> models;
  bool source_known = true;  // false when a catalog was named that does not exist
};

// What a user names as a model (the CLI's MODEL, a dialect's model field), understood:
// a URL (installed as |name| or its file name), a Hugging Face reference (hf://org/name,
// hf://org/name/path/to/file, a link to the Hub), ollama://NAME[:TAG] (an Ollama registry's
// model, installed as core/ollama.h's ModelRef), or NAME[:VERSION] (a catalog model or a
// Hub org/name[:REVISION or :QUANT]). Fills |req|'s ref, lookup, url, source, revision and
// include; reads the Hub selection already in |req| (include, exclude, quantization,
// revision) to name the model:
//   - |name| (NAME[:VERSION], version "latest" if not given) when given, for any of them;
//   - a Hub repository, or a name given with a Hub selection, installs as the repository
//     with a version saying what was selected: "latest" for all of main; else, joined by
//     '-', the revision, the quantization, the one file (its path, '/' written "--") and
//     "sel-" with 8 hex digits of the globs' SHA-256 (in any order), so two selections of
//     one repository are two models (org/name:Q4_K_M, org/name:v1.0-config.json,
//     org/name:sel-1a2b3c4d);
//   - NAME[:VERSION] alone is itself.
// InvalidArgument says what is wrong.
Status ParsePullTarget(const std::string& text, const std::string& name, PullRequest* req);
// Whether |text| is an http(s) URL.
bool IsHttpUrl(const std::string& text);

// ---------------------------------------------------------------------------------------
// Plain downloads outside the store (`modeld pull URL -o FILE`).

struct ExportRequest {
  std::string url;
  std::filesystem::path path;  // the file to write (atomically, after verification)...
  // ...or the directory to write it into, under the file's name (ExportDestination).
  bool into_directory = false;
  std::optional<Checksum> checksum;
  std::vector<std::string> headers;
  DownloadOptions options;
};
struct ExportResult {
  std::filesystem::path path;
  uint64_t size = 0;
  std::string sha256;
  uint64_t resumed_bytes = 0;
};

// Bounds for extracting archives (the free space caps the total as well).
struct ArchiveLimits {
  uint64_t max_total_bytes = uint64_t{256} << 30;
  double max_ratio = 100;                    // extracted bytes per archive byte...
  uint64_t ratio_floor = uint64_t{1} << 30;  // ...once past this many extracted bytes
  uint64_t max_entries = 200000;
};

}  // namespace modeld::service
