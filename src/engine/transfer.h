// The engine's state for one transfer (a file being downloaded) and for each of its
// connections (one libcurl easy handle fetching one lease at a time).
//
// Internal to the engine: plain structs that Engine::Impl (engine_impl.h) drives. The
// decisions about them are pure and live apart: retry_policy.h (after a failure),
// probe_decision.h (what a response says about the file), rate_window.h (speed and ETA),
// segment_planner.h (which bytes each connection fetches).
//
// Thread safety: not thread-safe. Everything here belongs to the engine loop thread,
// except that libcurl's callbacks (inside curl_multi_perform, on that same thread) write
// to their Connection, and the DiskWorker has threads of its own behind its own lock.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/status.h"
#include "engine/disk_worker.h"
#include "engine/engine.h"
#include "engine/journal.h"
#include "engine/pacing_policy.h"
#include "engine/probe_decision.h"
#include "engine/range_set.h"
#include "engine/rate_window.h"
#include "engine/retry_policy.h"
#include "engine/segment_planner.h"
#include "net/curl_setup.h"
#include "net/http.h"

namespace modeld::engine {

using Clock = std::chrono::steady_clock;

// "Not known" for a byte position or size: a request to the end, an unknown length.
inline constexpr uint64_t kUnknown = UINT64_MAX;
// How often the pacing (pacing.cc) samples each connection's bytes and decides.
inline constexpr auto kPaceInterval = std::chrono::milliseconds(50);
// How often progress is emitted and timers are checked while bytes move.
inline constexpr auto kProgressInterval = std::chrono::milliseconds(100);
// The probe asks for this much; its connection then continues with the rest of its lease.
// Bounded so that learning the size never means aborting a response mid-body.
inline constexpr uint64_t kProbeBytes = 1 << 20;
// Received bytes are written in chunks of this size: one pwrite per libcurl callback
// (16-64 KiB) costs more in syscalls than the copy into this buffer.
inline constexpr size_t kWriteChunk = 512 * 1024;
// ...or once the oldest buffered byte is this old, so kill -9 loses little of what the
// connections had received (at most this long of the transfer; bench/crash_loss.sh).
inline constexpr auto kWriteDelay = std::chrono::milliseconds(10);

struct Transfer;

// Why the write callback stopped a response early.
enum class Abort {
  kNone,
  kLeaseEnd,     // reached the (possibly shrunk) end of the lease: success
  kBadResponse,  // status or headers unusable; see resp.status
  kFileChanged,  // validators or range show the upstream file changed: restart
  kFatal,        // fail the transfer with |fatal|
};

struct Connection {
  void* owner = nullptr;  // the Engine::Impl, for the static libcurl callbacks
  Transfer* t = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  int worker = 0;  // the SegmentPlanner's worker id
  bool probe = false;
  bool no_range = false;  // request without a Range header (probe fallback)
  bool in_multi = false;
  std::string url;                 // the URL this attempt requested
  uint64_t pos = 0;                // next byte this connection receives
  uint64_t flushed = 0;            // bytes before this are written to the file
  std::string wbuf;                // received, not yet written: bytes [flushed, pos)
  Clock::time_point wbuf_since{};  // when the first byte in wbuf arrived
  uint64_t attempt_start = 0;
  uint64_t end = kUnknown;          // single-stream end (ranged transfers ask the planner)
  uint64_t request_end = kUnknown;  // exclusive end of the range this attempt asked for
  Clock::time_point launched{};     // when this attempt's request was made
  int attempts = 0;                 // failures counted against the retry budget
  std::optional<Clock::time_point> failing_since;  // the current run of failures began
  std::optional<Clock::time_point> retry_at;

  // Pacing (pacing.cc).
  bool rate_paused = false;       // paused in libcurl until a rate limit's bucket refills
  Clock::time_point paused_at{};  // when it was last paused so (Unthrottle serves the oldest)
  std::string host;               // the UrlOrigin it counts against (Impl::host_conns)
  // Bytes received over its last two seconds, across its requests (keep-alive), measured
  // afresh after a failure (the backoff is not slowness).
  RateWindow speed{std::chrono::seconds(2)};
  uint64_t received = 0;  // body bytes taken over all its requests (what speed samples)
  Clock::time_point speed_since = Clock::now();  // since when speed measures
  bool speed_reset = false;                      // a failure: measure afresh at the next Launch
  Clock::time_point born = Clock::now();         // when the connection was made
  bool hedge = false;                            // made to take over a slow connection's range

  // The current response's status and headers, reset per attempt and per redirect hop.
  ResponseHead resp;
  net::UpstreamGuard guard;  // the address policy's verdicts for this handle
  bool validated = false;
  Abort abort = Abort::kNone;
  Status fatal;
};

struct Transfer {
  TransferId id = 0;
  DownloadRequest req;
  EventCallback cb;
  Stage stage = Stage::kQueued;
  std::filesystem::path journal_path;
  UniqueFd fd;

  // Learned from the probe.
  std::optional<uint64_t> total;
  bool ranged = false;  // segmented; else one stream
  std::string etag, last_modified;
  std::string effective_url;  // after redirects; re-resolved through req.url on 4xx
  std::string origin;         // origin of req.url: the only one that gets req.headers

  // Resume input from the journal.
  RangeSet resume_done;
  std::optional<JournalState> journal;
  uint64_t resumed_bytes = 0;

  std::unique_ptr<SegmentPlanner> planner;
  int target_connections = 1;
  int next_worker = 1;
  std::vector<std::unique_ptr<Connection>> conns;
  std::unique_ptr<DiskWorker> worker;
  int restarts = 0;
  // The highest attempt number told in a RetryNotice, and when: a notice is sent only for
  // a higher attempt, until a request made after it receives bytes (the network is back).
  int retry_told = 0;
  Clock::time_point retry_told_at{};
  bool finishing = false;
  bool probed = false;       // the probe's answer has set total/ranged/validators
  uint64_t single_done = 0;  // bytes written by the one stream of an unranged transfer
  std::optional<Clock::time_point> deadline;
  ProgressBound progress;  // fails the transfer when it stops advancing

  // Pacing (pacing.cc; pacing_policy.h).
  Clock::time_point last_pace{};
  Clock::time_point throttled_at{};  // a rate limit last paused a connection of it
  Clock::time_point last_grant{};    // Unthrottle last let a connection of it go on
  RampState ramp;
  Clock::time_point ramp_since{};
  uint64_t ramp_since_bytes = 0;
  double best_rate = 0;  // the best one connection has done over a full window
  Clock::time_point last_hedge{};

  // Progress.
  RateWindow rate;
  Clock::time_point last_byte_at{};  // for stalled (DownloadOptions::stalled_after)
  uint64_t last_byte_count = 0;
  bool stalled_told = false;
  Clock::time_point last_emit{};
  uint64_t last_emit_bytes = kUnknown;
  Clock::time_point last_checkpoint{};
  uint64_t checkpoint_bytes = 0;  // DoneBytes() at the last checkpoint

  // Before the probe's answer (no planner yet) the journal's ranges on disk count: a
  // resumed download that fails there still reports what its partial holds.
  uint64_t DoneBytes() const {
    return planner ? planner->DoneBytes() : single_done + resume_done.TotalBytes();
  }
  // The origin (scheme, host, port) of effective_url: what the per-host cap counts by.
  const std::string& HostKey() const {
    if (host_key_url_ != effective_url) {
      host_key_url_ = effective_url;
      host_key_ = net::UrlOrigin(effective_url);
    }
    return host_key_;
  }
  // What the journal records now: the validators, the size and the written ranges.
  JournalState Snapshot() const;

 private:
  mutable std::string host_key_url_, host_key_;  // HostKey's cache
};

}  // namespace modeld::engine
