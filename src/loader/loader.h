// Loader: models held in memory the way inference runtimes (llama.cpp) map them, so that a
// runtime mapping the same files starts without touching the disk (docs/loader.md).
//
// Loading a model maps each of its files read-only (PROT_READ, MAP_SHARED) and faults every
// page in, optionally mlocking them; it stays mapped until it is unloaded, evicted (the
// least recently used goes when a load needs room under max_loaded_bytes) or idle for
// longer than its keep_alive. Nothing survives the process: it is memory.
//
// One model (one key, "name:version") has at most one mapping: two Loads share it, a Load
// while another is faulting the pages in waits for it and returns the same instance, and a
// Load of a loaded model refreshes its keep_alive and its place in the LRU order. Unload is
// unconditional (not a reference count per Load): it is what `unload` and `remove` mean.
//
// Thread safety: every method may be called from any thread at once. Load blocks its caller
// while the pages are read (no lock is held meanwhile); Unload, UnloadAll, Touch, List and
// IsLoaded return at once (mincore is the slowest thing List does). The loader's own thread
// unloads expired models and unmaps what Unload hands it (munmap of a GiB mapping takes
// milliseconds), and unloads a model whose files were removed or replaced on disk (checked
// every Options::watch_interval and at each pass). The destructor unloads everything and
// joins that thread; no call may be in progress when it runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "loader/mapping.h"

namespace modeld::loader {

using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;

// Ollama's default keep_alive.
inline constexpr Duration kDefaultKeepAlive = std::chrono::minutes(5);

struct ModelFile {
  std::string path;   // absolute
  uint64_t size = 0;  // the size the store installed; another size is refused
};

struct LoadSpec {
  std::string key;  // the model's "name:version"
  std::vector<ModelFile> files;
  bool mlock = false;
  // How long the model may stay idle before it is unloaded: unset = Options'
  // default_keep_alive; zero = unload it now (Ollama's keep_alive 0: nothing is loaded);
  // negative = never.
  std::optional<Duration> keep_alive;
};

struct LoadInfo {
  bool loaded = false;       // false only for keep_alive 0 (an unload)
  bool joined = false;       // the model was loaded (or being loaded) by another Load
  uint64_t instance_id = 0;  // the same as long as the model stays loaded; never reused
  uint64_t bytes = 0;
  uint64_t resident_bytes = 0;  // mincore, when this Load returned
  Duration load_time{};         // this call's wall time
  bool mlocked = false;
};

struct LoadedModel {
  std::string key;
  uint64_t instance_id = 0;
  uint64_t bytes = 0;
  uint64_t resident_bytes = 0;  // mincore, now
  std::chrono::system_clock::time_point loaded_at;
  std::chrono::system_clock::time_point last_used;
  std::optional<std::chrono::system_clock::time_point> expires_at;  // nullopt: never
  bool mlocked = false;
};

struct Options {
  // The budget for the bytes of loaded models; 0 = half of physical RAM.
  uint64_t max_loaded_bytes = 0;
  Duration default_keep_alive = kDefaultKeepAlive;
  // The steady clock keep_alive and LRU times are read from (tests pass their own, and
  // WaitForTimerForTest() to make the loader's thread look at it).
  std::function<Clock::time_point()> now;
  Populate populate = Populate::kPopulateRead;
  uint64_t chunk_bytes = 64ull << 20;  // pages faulted in between two cancellation checks
  // How often (real time) the loader's thread checks that each loaded model's paths still
  // name the files it mapped; a model whose file was removed or replaced (`modeld rm` or a
  // repair by another process) is unloaded, so its old bytes do not stay in memory.
  Duration watch_interval = std::chrono::seconds(2);
  // Test hooks, called without any lock held: on the loading thread after each chunk (the
  // key, the bytes faulted in so far); on a Load's thread as it starts waiting for another
  // Load of the same model.
  std::function<void(const std::string&, uint64_t)> on_chunk_for_test;
  std::function<void(const std::string&)> on_join_for_test;
};

class Loader {
 public:
  explicit Loader(Options options = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Loads |spec|'s model (or joins its load, or refreshes it when loaded). Blocks while the
  // pages are read. Errors name the model, and the file where one is at fault:
  //   InvalidArgument: an empty key, no files, a relative path, not a regular file;
  //   NotFound (reason::kModelFileMissing), Corrupt (reason::kModelFileSize);
  //   FailedPrecondition (reason::kModelTooLarge): larger than max_loaded_bytes, refused
  //     before anything is mapped or evicted;
  //   Unavailable (reason::kLoadBudgetBusy): loads in progress hold the budget it needs;
  //   FailedPrecondition (reason::kMemlockLimit): mlock refused by RLIMIT_MEMLOCK;
  //   Cancelled: unloaded while loading; IoError: mmap or madvise failed.
  // After a failure nothing of it stays mapped; models evicted to make room stay unloaded.
  Result<LoadInfo> Load(const LoadSpec& spec) EXCLUDES(mu_);

  // Unloads |key| (cancels its load when one is in progress). True if it was loaded or
  // loading. Idempotent; returns at once: the unmapping runs on the loader's thread.
  bool Unload(std::string_view key) EXCLUDES(mu_);
  // Unloads every model (and cancels every load in progress); the number unloaded.
  size_t UnloadAll() EXCLUDES(mu_);
  // Marks |key| used now: its keep_alive counts from now and it becomes the most recently
  // used. False if it is not loaded.
  bool Touch(std::string_view key) EXCLUDES(mu_);

  // The loaded models (not those still loading), by key.
  std::vector<LoadedModel> List() const EXCLUDES(mu_);
  bool IsLoaded(std::string_view key) const EXCLUDES(mu_);
  uint64_t max_loaded_bytes() const { return max_bytes_; }

  // Makes the loader's thread run a pass now (expire by Options::now, unload the models whose
  // files were replaced, then unmap all it has been handed) and returns when it has
  // finished: after it, what an Unload, an eviction, an expiry or a replaced file removed is
  // unmapped.
  void WaitForTimerForTest() EXCLUDES(mu_);

 private:
  struct Pending;  // a load in progress (loader.cc)
  // One model, loading (|pending| set) or loaded (|mapped| set).
  struct Entry {
    uint64_t id = 0;
    uint64_t bytes = 0;
    std::shared_ptr<Pending> pending;
    std::shared_ptr<const MappedModel> mapped;
    bool mlocked = false;
    Clock::time_point loaded_at{};
    Clock::time_point last_used{};
    uint64_t use_seq = 0;                // the LRU order: larger = used more recently
    std::optional<Duration> keep_alive;  // nullopt = never expires
  };
  using Models = std::map<std::string, Entry, std::less<>>;

  // What a Load of a loaded model returns, copied out under the lock; the pointer keeps the
  // mapping alive for the mincore after it.
  struct Use {
    std::shared_ptr<const MappedModel> mapped;
    LoadInfo info;
  };

  // Joins or refreshes a loaded or loading model, or loads it (|files| open and checked).
  Result<LoadInfo> StartLoad(const LoadSpec& spec, std::vector<OpenFile> files,
                             Clock::time_point start) EXCLUDES(mu_);
  // A Load's use of loaded entry |e|: its keep_alive is |spec|'s now, and it is used now.
  Use UseLoaded(Entry* e, const LoadSpec& spec, bool joined) REQUIRES(mu_);
  // Without the lock: mlocks it if |spec| asks and it is not yet; resident bytes and time.
  Result<LoadInfo> FinishUse(Use use, const LoadSpec& spec, Clock::time_point start) EXCLUDES(mu_);
  // |keep_alive| or the default, as an entry holds it (nullopt = never).
  std::optional<Duration> ResolveKeepAlive(std::optional<Duration> keep_alive) const;
  void MarkUsed(Entry* e) REQUIRES(mu_);
  // Removes |it|: cancels its load, or hands its mapping to the loader's thread (which the
  // caller wakes, after releasing the lock).
  void RemoveLocked(Models::iterator it) REQUIRES(mu_);
  std::optional<Clock::time_point> ExpiresAt(const Entry& e) const;
  void ThreadMain() EXCLUDES(mu_);

  // Immutable after construction.
  const Options options_;
  const uint64_t max_bytes_;
  const std::function<Clock::time_point()> now_;

  mutable Mutex mu_;
  CondVar work_cv_;  // the loader's thread: to_unmap_, stop_, an earlier expiry, a wake
  CondVar pass_cv_;  // passes_ advanced
  Models models_ GUARDED_BY(mu_);
  uint64_t used_bytes_ GUARDED_BY(mu_) = 0;  // the bytes of every entry, loading or loaded
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  uint64_t next_use_ GUARDED_BY(mu_) = 1;
  std::vector<std::shared_ptr<const MappedModel>> to_unmap_ GUARDED_BY(mu_);
  uint64_t wakes_ GUARDED_BY(mu_) = 0;   // WaitForTimerForTest requests
  uint64_t passes_ GUARDED_BY(mu_) = 0;  // the last request a finished pass saw
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // runs ThreadMain; joined by the destructor
};

}  // namespace modeld::loader
