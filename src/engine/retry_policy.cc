#include "engine/retry_policy.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/error_reasons.h"
#include "core/fs.h"
#include "core/time_format.h"
#include "net/http.h"

namespace modeld::engine {

namespace {

// Failures no retry can mend: a connection the upstream policy refused, a redirect loop.
bool IsFinalTransportError(const Status& s) {
  return s.code() == Status::Code::kPermissionDenied || s.code() == Status::Code::kInvalidArgument;
}

RetryDecision Fail(Status status, int attempts) {
  RetryDecision d;
  d.action = RetryDecision::Action::kFail;
  d.status = std::move(status);
  d.attempts = attempts;
  return d;
}

std::string ConnectReason(int os_errno) {
  switch (os_errno) {
    case ECONNREFUSED:
      return "connection refused";
    case ENETUNREACH:
      return "network unreachable";
    case EHOSTUNREACH:
      return "host unreachable";
    case ETIMEDOUT:
      return "connection timed out";
    default:
      return "could not connect";
  }
}

}  // namespace

RetryDecision DecideRetry(const FailedAttempt& f, const DownloadOptions& options,
                          const Jitter& jitter) {
  const int status = f.http_status;
  int attempts = f.attempts;
  // The transport failed (not a status we refused): after a redirect the last status is
  // the hop's 3xx, which is not the answer.
  const bool transport_failed = f.curl_code != CURLE_OK && !f.stopped_by_engine;
  if (transport_failed && IsFinalTransportError(f.transport)) return Fail(f.transport, attempts);

  Status err;
  std::optional<std::chrono::milliseconds> wait;
  bool counted = true;  // whether this failure uses up a retry
  bool resolve_again = false;
  const bool bad_status = status != 0 && status != 200 && status != 206 &&
                          !(transport_failed && status >= 300 && status < 400);
  if (bad_status) {
    if (status == 416) {
      if (f.probe && f.pos == 0 && f.ranged_request) {
        RetryDecision d;  // e.g. an empty file: ask for it whole
        d.action = RetryDecision::Action::kFetchWhole;
        d.attempts = attempts;
        return d;
      }
      if (f.probe) {
        RetryDecision d;
        d.action = RetryDecision::Action::kRestartFile;
        d.why = "the file at " + f.original_url + " is shorter than before";
        d.attempts = attempts;
        return d;
      }
      err = Status::Corrupt("server cannot serve bytes " + std::to_string(f.pos) + "- of the " +
                            std::to_string(f.total.value_or(0)) + " it announced for " +
                            f.original_url);
    } else if ((status == 401 || status == 403 || status == 404 || status == 410) &&
               f.request_url != f.original_url) {
      // The redirect target (often a signed, expiring CDN link) refused us: resolve it
      // again through the URL the user gave, keeping every byte already fetched.
      resolve_again = true;
      const int limit = options.retry_count >= 0 ? options.retry_count : kMaxResolveAgain;
      if (++attempts > limit + 1) {
        RetryDecision d = Fail(net::HttpStatusToStatus(status, "GET " + f.original_url), attempts);
        d.resolve_again = true;
        return d;
      }
      err = net::HttpStatusToStatus(status, "GET " + f.request_url);
      wait = std::chrono::milliseconds(0);
      counted = false;
    } else if (!net::IsRetryableHttpStatus(status)) {
      Status s = net::HttpStatusToStatus(status, "GET " + f.original_url);
      if (status == 404 || status == 410) {
        s = Status::NotFound("not found: " + f.original_url + " (HTTP " + std::to_string(status) +
                             ")")
                .WithInfo({reason::kHttpStatus,
                           {{"url", f.original_url}, {"status", std::to_string(status)}}});
      }
      return Fail(std::move(s), attempts);
    } else {
      err = net::HttpStatusToStatus(status, "GET " + f.request_url);
      if (!f.retry_after.empty()) {
        wait = net::ParseRetryAfter(f.retry_after, f.now);
        if (wait) wait = std::min<std::chrono::milliseconds>(*wait, kMaxRetryAfter);
      }
    }
  } else if (f.curl_code != CURLE_OK) {
    err = f.transport;
    if (IsFinalTransportError(err)) return Fail(err, attempts);
  } else {
    err = Status::Unavailable("GET " + f.request_url + ": the server closed the response at byte " +
                              std::to_string(f.pos) + ", short of what it announced");
  }

  // Progress was made: a fresh budget, in attempts and in time.
  std::optional<std::chrono::steady_clock::time_point> since = f.failing_since;
  if (f.pos > f.attempt_start) {
    attempts = 0;
    since.reset();
  }
  if (!since) since = f.steady_now;
  const auto failing = std::chrono::duration_cast<std::chrono::milliseconds>(f.steady_now - *since);
  if (counted) {
    ++attempts;
    // "giving up after retrying for 2 min (14 attempts, connection refused): GET ...".
    const std::string reason = RetryReason(f);
    if (options.retry_count >= 0 && attempts > options.retry_count) {
      return Fail(err.WithContext("giving up after " + std::to_string(options.retry_count) +
                                  " retries (" + reason + ")"),
                  attempts);
    }
    if (failing >= options.retry_for) {
      return Fail(
          err.WithContext("giving up after retrying for " + HumanDuration(options.retry_for) +
                          " (" + std::to_string(attempts) +
                          (attempts == 1 ? " attempt, " : " attempts, ") + reason + ")"),
          attempts);
    }
  }
  if (!wait) {
    // Exponential backoff with full jitter in [base/2, base], the last try at the end of
    // the budget.
    int64_t base =
        std::min<int64_t>(options.max_backoff.count(),
                          kBaseBackoff.count() << std::min(std::max(attempts, 1) - 1, 16));
    wait = std::chrono::milliseconds(jitter(base / 2, base));
    if (counted) wait = std::min(*wait, options.retry_for - failing);
  }
  RetryDecision d;
  d.action = RetryDecision::Action::kRetry;
  d.status = std::move(err);
  d.resolve_again = resolve_again;
  d.attempts = attempts;
  d.failing_since = since;
  d.delay = *wait;
  d.reason = RetryReason(f);
  return d;
}

std::string RetryReason(const FailedAttempt& f) {
  const int status = f.http_status;
  const bool transport_failed = f.curl_code != CURLE_OK && !f.stopped_by_engine;
  if (status != 0 && status != 200 && status != 206 &&
      !(transport_failed && status >= 300 && status < 400)) {
    return "HTTP " + std::to_string(status);
  }
  switch (f.curl_code) {
    case CURLE_OK:
    case CURLE_PARTIAL_FILE:
      return "the connection closed early";
    case CURLE_COULDNT_CONNECT:
      return ConnectReason(f.os_errno);
    case CURLE_COULDNT_RESOLVE_HOST:
      return "could not resolve the host";
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "could not resolve the proxy";
    case CURLE_OPERATION_TIMEDOUT:
      return "timed out";
    case CURLE_GOT_NOTHING:
      return "empty reply from the server";
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      if (f.os_errno == ECONNRESET) return "connection reset";
      return f.curl_code == CURLE_RECV_ERROR ? "receive error" : "send error";
    case CURLE_SSL_CONNECT_ERROR:
      return "TLS handshake failed";
    default: {
      std::string s = curl_easy_strerror(f.curl_code);
      if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
      return s;
    }
  }
}

Status CheckRestart(int restarts, std::string_view why) {
  if (restarts <= kMaxRestarts) return Status::OK();
  return Status::Corrupt(std::string(why) + "; it changed " + std::to_string(kMaxRestarts) +
                         " times during the download, giving up");
}

Status ProgressBound::Check(uint64_t done, std::optional<uint64_t> total, Clock::time_point now,
                            std::chrono::milliseconds limit, std::string_view url) {
  if (done < mark_) mark_ = done;  // restarted from scratch
  const bool at_end = total && done >= *total && done > mark_;
  if (done >= mark_ + kMinProgressBytes || at_end) {
    mark_ = done;
    since_ = now;
    return Status::OK();
  }
  if (limit.count() <= 0 || now - since_ < limit) return Status::OK();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - since_);
  return Status::Unavailable("no progress downloading " + net::UrlForMessages(url) + " for " +
                             std::to_string(secs.count()) + " s (less than " +
                             HumanBytes(kMinProgressBytes) + " arrived, whatever the reconnects; " +
                             std::to_string(done) +
                             " bytes so far); giving up, the partial download is kept");
}

}  // namespace modeld::engine
