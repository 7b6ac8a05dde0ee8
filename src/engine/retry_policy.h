// The retry decision: what a transfer does after one of its requests failed, and when
// it gives up for want of progress.
//
// DecideRetry takes how the request ended (libcurl's result, the HTTP status and
// Retry-After, how far it got, the connection's failures so far and since when it has
// been failing) and says: fail the transfer now (with which Status), ask for the file
// whole (no Range), start the file over (it changed upstream), or retry after a delay:
// exponential backoff with full jitter, Retry-After honoured up to kMaxRetryAfter, and a
// redirect target that refused us (an expired signed link) resolved again at once through
// the URL the user gave. The retry budget is a time (DownloadOptions::retry_for, 2 min by
// default): a connection keeps retrying while it has been failing without progress for
// less than that, so an outage of a minute does not end a download.
// CheckRestart bounds the start-overs; ProgressBound bounds the time a whole transfer
// may go without progress, whatever the reconnects.
//
// Pure: no I/O, no clock reads (the time comes in), the randomness comes in as a Jitter.
// Thread safety: the functions are stateless and safe from any thread; a ProgressBound
// belongs to one thread (the engine loop's).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "engine/engine.h"

namespace modeld::engine {

// The longest Retry-After honoured; a longer one waits this long.
inline constexpr std::chrono::milliseconds kMaxRetryAfter = std::chrono::minutes(10);
// The first backoff; it doubles with each counted failure up to DownloadOptions::max_backoff.
inline constexpr std::chrono::milliseconds kBaseBackoff{250};
// Refusals by a redirect target (resolved again at once, not counted) allowed in a row
// without progress when DownloadOptions::retry_count sets no count of its own.
inline constexpr int kMaxResolveAgain = 5;
// Start-overs (the upstream file changed) allowed per transfer before it fails.
inline constexpr int kMaxRestarts = 3;

// Returns a uniformly random integer in [lo, hi]. The engine draws from its seeded
// std::mt19937_64; tests pin it.
using Jitter = std::function<int64_t(int64_t lo, int64_t hi)>;

// One failed request of a transfer.
struct FailedAttempt {
  std::string original_url;  // DownloadRequest::url
  std::string request_url;   // the URL this request went to (a redirect target, say)
  CURLcode curl_code = CURLE_OK;
  // net::UpstreamStatus of |curl_code| (a refused address, a redirect loop, a timeout);
  // read only when curl_code is not CURLE_OK.
  Status transport;
  // The engine ended the response itself (its status was refused, or it ran past the
  // lease): curl_code is then the engine's doing, not the network's.
  bool stopped_by_engine = false;
  int http_status = 0;                        // the last response's status; 0 when none came
  std::string retry_after;                    // its Retry-After header, if any
  std::chrono::system_clock::time_point now;  // to read a Retry-After date against
  bool probe = false;             // the transfer's first request (the file not yet known)
  bool ranged_request = true;     // the request carried a Range header
  uint64_t attempt_start = 0;     // the first byte this request asked for
  uint64_t pos = 0;               // the next byte it would have received
  std::optional<uint64_t> total;  // the file's size as announced, for messages
  int attempts = 0;               // failures already counted on this connection
  int os_errno = 0;               // libcurl's CURLINFO_OS_ERRNO (ECONNREFUSED, ...), 0 if none
  // The monotonic time now, and when this connection's run of failures without progress
  // began (nullopt: this is its first failure since bytes last moved).
  std::chrono::steady_clock::time_point steady_now;
  std::optional<std::chrono::steady_clock::time_point> failing_since;
};

struct RetryDecision {
  enum class Action {
    kFail,         // fail the transfer with |status|; the partial stays for resume
    kRestartFile,  // the file changed upstream: discard the partial and start over (|why|)
    kFetchWhole,   // ask again at once from byte 0 without a Range (416 to a probe at 0)
    kRetry,        // try again after |delay|; |status| is the failure, for the log
  };
  Action action = Action::kRetry;
  Status status;
  std::string why;  // kRestartFile
  // The redirect target refused us (401/403/404/410): the next request goes to the
  // original URL, to be redirected afresh. Set with kRetry, and with kFail once that too
  // has failed past the budget.
  bool resolve_again = false;
  int attempts = 0;  // the connection's failure count after this one
  // When its run of failures without progress began, after this one (kRetry).
  std::optional<std::chrono::steady_clock::time_point> failing_since;
  std::chrono::milliseconds delay{0};
  // A few words a person reads, for "<reason>, retrying in 2 s (attempt 3)":
  // "connection refused", "HTTP 503", "timed out" (RetryReason).
  std::string reason;
};

// Decides what follows |failed|, within |options|' retry_for, retry_count and max_backoff.
// - A refused address (PermissionDenied) or a redirect loop (InvalidArgument): fail.
// - 416: to a probe from byte 0 with a Range, fetch whole (an empty file); to another
//   probe, restart (the file shrank); to a lease, a counted retry (Corrupt).
// - 401/403/404/410 from a redirect target: resolve again with no delay and no counted
//   retry, failing once more than retry_count + 1 (kMaxResolveAgain + 1 when retry_count
//   is negative) such answers came without progress.
// - Other 404/410 (NotFound), 401/403 (PermissionDenied), other 4xx (InvalidArgument): fail.
// - 408/425/429/5xx, transport errors, a short body: a counted retry. The count and the
//   time restart when this request moved bytes. Once the connection has been failing for
//   retry_for (measured from its first failure since bytes last moved), fail "giving up
//   after retrying for 2 min (N attempts, connection refused)"; past a retry_count >= 0,
//   fail "giving up after N retries (HTTP 503)". The delay is Retry-After (capped at
//   kMaxRetryAfter) when given, else a draw from |jitter| in [base/2, base], base =
//   min(max_backoff, kBaseBackoff * 2^(attempts-1)), cut to what is left of retry_for (so
//   the last try comes at its end).
RetryDecision DecideRetry(const FailedAttempt& failed, const DownloadOptions& options,
                          const Jitter& jitter);

// The reason of |failed| in a few words, for people: "HTTP 503", "connection refused",
// "connection reset", "could not resolve the host", "timed out", "the connection closed
// early", ... (the Status says the rest).
std::string RetryReason(const FailedAttempt& failed);

// OK while |restarts| (start-overs so far, this one included) is within kMaxRestarts;
// else Corrupt: "<why>; it changed 3 times during the download, giving up".
Status CheckRestart(int restarts, std::string_view why);

// The transfer-level no-progress bound (DownloadOptions::progress_timeout): the bytes
// done must grow by kMinProgressBytes (or reach the end of the file) within the limit,
// however many reconnects happen meanwhile.
class ProgressBound {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts the clock at |now| (a start, or a resume: paused time is not time without
  // progress). The bytes counted so far stay the mark.
  void Restart(Clock::time_point now) { since_ = now; }

  // Records |done| bytes (of |total|, if known) at |now|. Returns OK, or Unavailable
  // naming |url| and how long nothing came once that reaches |limit| (0: no bound).
  Status Check(uint64_t done, std::optional<uint64_t> total, Clock::time_point now,
               std::chrono::milliseconds limit, std::string_view url);

 private:
  uint64_t mark_ = 0;          // bytes done at the last meaningful advance
  Clock::time_point since_{};  // and when
};

}  // namespace modeld::engine
