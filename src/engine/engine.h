// Engine: downloads files over HTTP(S) with many connections per file, resumably and
// verified, on one event-loop thread driving libcurl's multi interface.
//
// The rest of the program talks to the engine through its mailbox (Submit, Cancel, Stop,
// Pause, Resume: each returns at once and takes effect on the loop thread, well within
// 200 ms) and hears back through TransferEvents. One request, end to end:
//
//   probe GET (Range: bytes=N-, If-Range when resuming) -> size, validators, Range support
//   -> disk-space check and fallocate of <dest>.part -> pieces leased to up to 16
//   connections (SegmentPlanner), bytes pwritten at their offsets -> the DiskWorker hashes
//   the growing prefix and checkpoints the journal -> last byte -> verify, fsync, rename.
//
// Pacing (docs/engine.md): a transfer starts with 8 connections and adds while its
// throughput rises; a connection far slower than its siblings (or than a fresh one) is
// replaced by a fresh connection that takes over its range; rate limits (SetMaxRate, and
// DownloadRequest::rate_limit per job) and a per-host connection cap shared fairly by all
// transfers (SetMaxConnectionsPerHost) hold every transfer, changeable while they run.
//
// Every connection goes through net/curl_setup.h, so the upstream address policy
// (net/upstream_policy.h) applies to each one, redirect hops included: a refused address
// fails the transfer with PermissionDenied. A body with a Content-Encoding other than
// identity, and a redirect loop, fail it with InvalidArgument.
//
// Nothing an upstream sends can throw out of the engine: an exception while handling one
// transfer (on the loop thread or its disk worker) fails that transfer with Internal.
//
// Metrics (core/metrics.h, docs/metrics.md), in the process's registry, summed over every
// Engine: modeld_engine_connections (requests in flight), modeld_download_retries_total
// (RetryNotices told), modeld_download_reconnects_total (requests made again after a
// failure's backoff), and DownloadRequest::downloaded.
//
// Thread safety: all public methods are safe to call from any thread, including from an
// EventCallback. Callbacks run on the engine thread and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/checksum.h"
#include "core/metrics.h"
#include "core/status.h"
#include "engine/rate_limit.h"

namespace modeld::engine {

using TransferId = uint64_t;

// What counts as progress for DownloadOptions::progress_timeout.
inline constexpr uint64_t kMinProgressBytes = 64 * 1024;

enum class Stage {
  kQueued,
  kResolving,    // probing the URL: size, validators, Range support
  kDownloading,  // bytes moving
  kVerifying,    // last byte received; hash catching up, checksum compared
  kInstalling,   // fsync and rename into place
  kCompleted,    // terminal: file installed
  kFailed,       // terminal: see status
  kPaused,
  kCancelled,  // terminal: stopped on request (partial kept or removed, see Cancel/Stop)
};
std::string_view StageName(Stage stage);

struct DownloadOptions {
  int max_connections = 16;  // upper bound; small files use fewer (1..64)
  // The retry budget: a connection that fails keeps trying (backoff up to max_backoff)
  // until it has been failing without progress for retry_for; then the transfer fails,
  // its partial kept (retry_policy.h). 0: no retry.
  std::chrono::milliseconds retry_for{120'000};
  // Also at most this many retries in a row without progress per connection; -1: no
  // count, only retry_for.
  int retry_count = -1;
  std::chrono::milliseconds connect_timeout{30'000};
  std::chrono::milliseconds stall_timeout{30'000};  // no byte for this long: reconnect
  // The whole transfer must advance by kMinProgressBytes (or to the end of the file)
  // within this long, whatever reconnects happen meanwhile; else it fails (Unavailable).
  // Bounds an upstream that trickles a byte per connection. 0 = no bound.
  std::chrono::milliseconds progress_timeout{600'000};
  std::chrono::milliseconds total_timeout{0};  // whole download; 0 = none
  std::chrono::milliseconds checkpoint_interval{1'000};
  std::chrono::milliseconds max_backoff{15'000};  // the longest wait between two tries
  size_t buffer_size = 262144;                    // libcurl receive buffer ("chunk_size")
  uint64_t piece_size = 0;                        // bytes per lease; 0 = chosen from the file size
  uint64_t min_split = 1 << 20;                   // never split a lease below 2 * min_split
  bool verify_ssl = true;
  // No byte for this long while downloading: the transfer's events say stalled (its
  // connections go on waiting until stall_timeout, then reconnect).
  std::chrono::milliseconds stalled_after{5'000};
};

// Told which bytes of the partial file (DownloadRequest::part_path) hold the download's
// data while it runs, so that a reader can serve them before it ends (the Hub mirror
// streams a file to its clients as it lands). Calls come from the engine thread and must
// not block.
class WriteObserver {
 public:
  virtual ~WriteObserver() = default;
  // [begin, end) of the partial file now holds the file's bytes (written with pwrite: a
  // read of the file sees them). Also told, once the upstream answered, for each range a
  // resume keeps.
  virtual void Written(uint64_t begin, uint64_t end) = 0;
  // The partial file was emptied to start over: nothing told before holds any longer.
  virtual void Reset() = 0;
};

struct DownloadRequest {
  std::string url;
  std::filesystem::path dest;       // the file to install
  std::filesystem::path part_path;  // default: dest + ".part"; the journal is part + ".journal"
  std::optional<Checksum> checksum;
  std::optional<uint64_t> expected_size;  // fail early if the server disagrees
  // Extra request headers ("Authorization: Bearer ..."). They are sent only to the
  // origin (scheme, host, port) of |url|, never to a host a redirect leads to.
  std::vector<std::string> headers;
  DownloadOptions options;
  // When set, every byte received and written to the partial file is added to it (the
  // caller's metrics counter: bytes downloaded by source). It must outlive the transfer.
  metrics::Counter* downloaded = nullptr;
  // A bandwidth cap for this transfer, usually shared by every transfer of one job (so
  // the job as a whole is held to it), changeable while it runs; null: none. The engine's
  // own cap (Engine::SetMaxRate) applies as well.
  std::shared_ptr<RateLimit> rate_limit;
  // Drop the file's pages from the page cache as they are written back and once it is
  // installed, so a finished download does not push other programs' memory out. False
  // when the file is about to be read (loaded) anyway.
  bool drop_cache = true;
  // Told of every write to the partial file (null: nobody reads it before the end).
  std::shared_ptr<WriteObserver> observer;
};

// A connection of a transfer failed and will try again. Told at most once per attempt
// number in a run of failures (bytes arriving end the run), so an outage that breaks 16
// connections at once is told once per round of retries, not 16 times.
struct RetryNotice {
  std::string reason;  // "connection refused", "HTTP 503" (retry_policy.h RetryReason)
  std::chrono::milliseconds delay{0};
  int attempt = 0;  // the attempt about to be made: 2 after the first failure
};

struct TransferEvent {
  TransferId id = 0;
  Stage stage = Stage::kQueued;
  uint64_t done_bytes = 0;
  std::optional<uint64_t> total_bytes;
  uint64_t resumed_bytes = 0;  // bytes already on disk when this run started
  double bytes_per_second = 0;
  std::optional<double> eta_seconds;
  int connections = 0;
  // Downloading, and no byte for DownloadOptions::stalled_after: bytes_per_second is 0
  // and eta_seconds unset.
  bool stalled = false;
  Status status;       // the error, when stage is kFailed or kCancelled
  std::string sha256;  // when kCompleted
  std::filesystem::path path;
  std::optional<RetryNotice> retry;  // set on the progress event that tells of a retry
  bool terminal() const {
    return stage == Stage::kCompleted || stage == Stage::kFailed || stage == Stage::kCancelled;
  }
};

using EventCallback = std::function<void(const TransferEvent&)>;

// Makes the engine's metrics in the process's registry now, so that a scrape shows them
// (at 0) before the first Engine exists. Idempotent.
void RegisterEngineMetrics();

class Engine {
 public:
  Engine();
  // Stops every transfer, keeping partials for resume, and joins the loop thread.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts a download. |callback| receives stage changes (never dropped) and progress
  // (about 10 a second); the last event has terminal() true.
  TransferId Submit(DownloadRequest request, EventCallback callback);
  // Stops and deletes the partial file and journal.
  void Cancel(TransferId id);
  // Stops and keeps the partial file and journal, so a later Submit resumes.
  void Stop(TransferId id);
  // Closes the transfer's connections (its partial state stays in memory and on disk).
  void Pause(TransferId id);
  void Resume(TransferId id);

  // A cap on the bytes a second of everything this engine downloads; 0: none. Takes
  // effect within a progress tick (100 ms).
  void SetMaxRate(uint64_t bytes_per_second);
  uint64_t max_rate() const;
  // At most this many connections to one host (scheme, host and port) over all transfers
  // (default kDefaultConnectionsPerHost), shared fairly among the transfers downloading
  // from it; 1..256.
  void SetMaxConnectionsPerHost(int n);
  static constexpr int kDefaultConnectionsPerHost = 16;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modeld::engine
