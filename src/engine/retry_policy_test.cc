#include "engine/retry_policy.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <random>
#include <vector>

namespace modeld::engine {
namespace {

using Action = RetryDecision::Action;
using Code = Status::Code;
using std::chrono::milliseconds;

constexpr char kOrigin[] = "https://models.example/m.bin";
constexpr char kCdn[] = "https://cdn.example/signed/m.bin?sig=abc";

// A request to the origin that got |status| (no transport error), no bytes moved.
FailedAttempt Http(int status) {
  FailedAttempt f;
  f.original_url = kOrigin;
  f.request_url = kOrigin;
  f.http_status = status;
  f.stopped_by_engine = true;  // the engine refuses a bad status at its first byte
  f.curl_code = CURLE_WRITE_ERROR;
  f.transport = Status::IoError("write error");
  f.attempt_start = f.pos = 1 << 20;
  return f;
}

FailedAttempt Transport(CURLcode code, Status transport, int last_status = 0) {
  FailedAttempt f;
  f.original_url = kOrigin;
  f.request_url = kOrigin;
  f.curl_code = code;
  f.transport = std::move(transport);
  f.http_status = last_status;
  return f;
}

template <typename Fn>
FailedAttempt With(FailedAttempt f, Fn&& change) {
  change(f);
  return f;
}

struct Case {
  const char* name;
  FailedAttempt failed;
  Action action;
  Code code = Code::kOk;  // of |status|; kOk: not checked (kFetchWhole, kRestartFile)
  int attempts = 0;       // after the decision
  int64_t delay_ms = -1;  // -1: not checked
  int64_t jitter_lo = -1, jitter_hi = -1;  // the bounds the jitter was asked for; -1: not asked
  const char* message = "";                // a substring of status (or why)
  bool resolve_again = false;
};

TEST(RetryPolicyTest, DecidesEveryBranch) {
  // 2027-01-15 08:00:00 GMT, for Retry-After dates.
  const auto now = std::chrono::system_clock::from_time_t(1'800'000'000);
  const std::vector<Case> cases = {
      {"refused address fails at once",
       Transport(CURLE_COULDNT_CONNECT, Status::PermissionDenied("refused to connect to 10.0.0.1")),
       Action::kFail, Code::kPermissionDenied, 0, -1, -1, -1, "refused to connect"},
      {"redirect loop fails at once, though the last status is a 3xx",
       Transport(CURLE_TOO_MANY_REDIRECTS, Status::InvalidArgument("too many redirects"), 302),
       Action::kFail, Code::kInvalidArgument, 0, -1, -1, -1, "too many redirects"},
      {"416 to a ranged probe from byte 0: fetch whole (an empty file)",
       With(Http(416), [](auto& f) { f.probe = true, f.pos = f.attempt_start = 0; }),
       Action::kFetchWhole},
      {"416 to a probe from byte 0 without a Range: the file shrank",
       With(Http(416),
            [](auto& f) { f.probe = true, f.ranged_request = false, f.pos = f.attempt_start = 0; }),
       Action::kRestartFile, Code::kOk, 0, -1, -1, -1, "is shorter than before"},
      {"416 to a resuming probe: the file shrank, start over",
       With(Http(416), [](auto& f) { f.probe = true; }), Action::kRestartFile, Code::kOk, 0, -1, -1,
       -1, "the file at https://models.example/m.bin is shorter than before"},
      {"416 to a lease: a counted retry", With(Http(416), [](auto& f) { f.total = 4 << 20; }),
       Action::kRetry, Code::kCorrupt, 1, 250, 125, 250,
       "cannot serve bytes 1048576- of the 4194304 it announced"},
      {"403 from a redirect target: resolve again at once, not counted",
       With(Http(403), [](auto& f) { f.request_url = kCdn, f.attempts = 2; }), Action::kRetry,
       Code::kPermissionDenied, 3, 0, -1, -1, "cdn.example", true},
      {"404 from a redirect target", With(Http(404), [](auto& f) { f.request_url = kCdn; }),
       Action::kRetry, Code::kNotFound, 1, 0, -1, -1, "", true},
      {"401 from a redirect target", With(Http(401), [](auto& f) { f.request_url = kCdn; }),
       Action::kRetry, Code::kPermissionDenied, 1, 0, -1, -1, "", true},
      {"410 from a redirect target", With(Http(410), [](auto& f) { f.request_url = kCdn; }),
       Action::kRetry, Code::kNotFound, 1, 0, -1, -1, "", true},
      {"410 from a redirect target, past retry_count + 1 without progress: fail",
       With(Http(410), [](auto& f) { f.request_url = kCdn, f.attempts = 6; }), Action::kFail,
       Code::kNotFound, 7, -1, -1, -1, "GET https://models.example/m.bin: HTTP 410", true},
      {"403 from a redirect target after progress: the budget starts again",
       With(Http(403), [](auto& f) { f.request_url = kCdn, f.attempts = 3, f.pos += 10; }),
       Action::kRetry, Code::kPermissionDenied, 0, 0, -1, -1, "", true},
      {"404 from the origin: NotFound", Http(404), Action::kFail, Code::kNotFound, 0, -1, -1, -1,
       "not found: https://models.example/m.bin (HTTP 404)"},
      {"410 from the origin: NotFound", Http(410), Action::kFail, Code::kNotFound, 0, -1, -1, -1,
       "(HTTP 410)"},
      {"401 from the origin", Http(401), Action::kFail, Code::kPermissionDenied},
      {"403 from the origin", Http(403), Action::kFail, Code::kPermissionDenied},
      {"400: not retryable", Http(400), Action::kFail, Code::kInvalidArgument, 0, -1, -1, -1,
       "HTTP 400"},
      {"422: not retryable", Http(422), Action::kFail, Code::kInvalidArgument},
      {"429 with Retry-After seconds", With(Http(429), [](auto& f) { f.retry_after = "7"; }),
       Action::kRetry, Code::kUnavailable, 1, 7000},
      {"503 with Retry-After as a date",
       With(Http(503), [](auto& f) { f.retry_after = "Fri, 15 Jan 2027 08:00:30 GMT"; }),
       Action::kRetry, Code::kUnavailable, 1, 30'000},
      {"503 with a Retry-After too long: capped at 10 minutes",
       With(Http(503), [](auto& f) { f.retry_after = "86400"; }), Action::kRetry,
       Code::kUnavailable, 1, 600'000},
      {"503 with an unreadable Retry-After: backoff",
       With(Http(503), [](auto& f) { f.retry_after = "soon"; }), Action::kRetry, Code::kUnavailable,
       1, 250, 125, 250},
      {"500, third failure: backoff base 1 s", With(Http(500), [](auto& f) { f.attempts = 2; }),
       Action::kRetry, Code::kUnavailable, 3, 1000, 500, 1000},
      {"408 at the retry budget's end: give up", With(Http(408), [](auto& f) { f.attempts = 5; }),
       Action::kFail, Code::kUnavailable, 6, -1, -1, -1, "giving up after 5 retries"},
      {"429 at the budget's end but bytes moved: a fresh budget",
       With(Http(429), [](auto& f) { f.attempts = 5, f.pos += 1; }), Action::kRetry,
       Code::kUnavailable, 1, 250, 125, 250},
      {"a timeout: retry", Transport(CURLE_OPERATION_TIMEDOUT, Status::Unavailable("timed out")),
       Action::kRetry, Code::kUnavailable, 1, 250, 125, 250, "timed out"},
      {"a refused connection after a redirect hop: the 3xx is not the answer",
       Transport(CURLE_COULDNT_CONNECT, Status::Unavailable("connection refused"), 302),
       Action::kRetry, Code::kUnavailable, 1, 250, 125, 250, "connection refused"},
      {"a reset mid-body, with progress: the budget starts again",
       With(Transport(CURLE_RECV_ERROR, Status::Unavailable("reset"), 206),
            [](auto& f) { f.attempts = 4, f.attempt_start = 0, f.pos = 5000; }),
       Action::kRetry, Code::kUnavailable, 1, 250, 125, 250},
      {"a single stream that ended short (the engine's CURLE_PARTIAL_FILE)",
       With(Transport(CURLE_PARTIAL_FILE, Status::Unavailable("partial file"), 200),
            [](auto& f) { f.stopped_by_engine = true; }),
       Action::kRetry, Code::kUnavailable, 1, 250, 125, 250, "partial file"},
      {"a body that ended short of the range",
       With(FailedAttempt{},
            [](auto& f) {
              f.original_url = f.request_url = kOrigin, f.http_status = 206, f.pos = 10;
            }),
       Action::kRetry, Code::kUnavailable, 1, 250, 125, 250,
       "closed the response at byte 10, short of what it announced"},
      {"backoff capped by max_backoff", With(Http(502), [](auto& f) { f.attempts = 4; }),
       Action::kRetry, Code::kUnavailable, 5, 3000, 1500, 3000},
  };
  DownloadOptions options;
  options.retry_count = 5;
  options.max_backoff = milliseconds(3000);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    int64_t lo = -1, hi = -1;
    Jitter jitter = [&](int64_t a, int64_t b) {
      lo = a, hi = b;
      return b;
    };
    FailedAttempt f = c.failed;
    f.now = now;
    RetryDecision d = DecideRetry(f, options, jitter);
    EXPECT_EQ(d.action, c.action);
    if (c.code != Code::kOk) {
      EXPECT_EQ(d.status.code(), c.code) << d.status.ToString();
    }
    if (c.action == Action::kRestartFile) {
      EXPECT_NE(d.why.find(c.message), std::string::npos) << d.why;
    } else {
      EXPECT_NE(d.status.message().find(c.message), std::string::npos) << d.status.ToString();
    }
    EXPECT_EQ(d.attempts, c.attempts);
    if (c.delay_ms >= 0) {
      EXPECT_EQ(d.delay.count(), c.delay_ms);
    }
    EXPECT_EQ(lo, c.jitter_lo);
    EXPECT_EQ(hi, c.jitter_hi);
    EXPECT_EQ(d.resolve_again, c.resolve_again);
  }
}

TEST(RetryPolicyTest, BackoffDoublesUpToMaxBackoff) {
  DownloadOptions options;
  options.retry_count = 100;
  options.max_backoff = milliseconds(30'000);
  std::vector<int64_t> bases;
  Jitter jitter = [&](int64_t lo, int64_t hi) {
    EXPECT_EQ(lo, hi / 2);
    bases.push_back(hi);
    return lo;
  };
  FailedAttempt f = Http(503);
  for (int i = 0; i < 10; ++i) {
    RetryDecision d = DecideRetry(f, options, jitter);
    ASSERT_EQ(d.action, Action::kRetry);
    EXPECT_EQ(d.delay.count(), bases.back() / 2);
    f.attempts = d.attempts;
  }
  EXPECT_EQ(bases,
            (std::vector<int64_t>{250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
}

TEST(RetryPolicyTest, SeededJitterStaysInItsBounds) {
  std::mt19937_64 rng(42);
  Jitter jitter = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  DownloadOptions options;
  FailedAttempt f = Transport(CURLE_RECV_ERROR, Status::Unavailable("reset"));
  f.attempts = 2;  // base 1 s
  int64_t min = INT64_MAX, max = 0;
  for (int i = 0; i < 1000; ++i) {
    RetryDecision d = DecideRetry(f, options, jitter);
    min = std::min<int64_t>(min, d.delay.count());
    max = std::max<int64_t>(max, d.delay.count());
  }
  EXPECT_GE(min, 500);
  EXPECT_LE(max, 1000);
  EXPECT_LT(min, 550);  // full jitter: the whole interval is used
  EXPECT_GT(max, 950);
}

TEST(RetryPolicyTest, RetryCountZeroFailsAtTheFirstCountedFailure) {
  DownloadOptions options;
  options.retry_count = 0;
  Jitter jitter = [](int64_t, int64_t hi) { return hi; };
  RetryDecision d = DecideRetry(Http(503), options, jitter);
  EXPECT_EQ(d.action, Action::kFail);
  EXPECT_NE(d.status.message().find("giving up after 0 retries"), std::string::npos);
  // An expired redirect target still gets one fresh resolution.
  FailedAttempt f = Http(403);
  f.request_url = kCdn;
  d = DecideRetry(f, options, jitter);
  EXPECT_EQ(d.action, Action::kRetry);
  EXPECT_TRUE(d.resolve_again);
  f.attempts = d.attempts;
  d = DecideRetry(f, options, jitter);
  EXPECT_EQ(d.action, Action::kFail);
  EXPECT_EQ(d.status.message(), "GET https://models.example/m.bin: HTTP 403");
}

// The budget is a time: a connection that keeps failing without progress retries until
// it has been failing for retry_for, however many tries that takes, then gives up.
TEST(RetryPolicyTest, TheBudgetIsATimeNotACount) {
  using Steady = std::chrono::steady_clock;
  DownloadOptions options;  // the defaults: 2 min, backoff capped at 15 s, no count
  EXPECT_EQ(options.retry_for, std::chrono::minutes(2));
  EXPECT_EQ(options.max_backoff, std::chrono::seconds(15));
  EXPECT_LT(options.retry_count, 0);
  Jitter jitter = [](int64_t, int64_t hi) { return hi; };  // the longest waits
  FailedAttempt f = Transport(CURLE_COULDNT_CONNECT, Status::Unavailable("refused"));
  f.os_errno = ECONNREFUSED;
  const Steady::time_point t0{};
  f.steady_now = t0;
  std::vector<int64_t> delays;
  RetryDecision d;
  for (;;) {
    d = DecideRetry(f, options, jitter);
    if (d.action != Action::kRetry) break;
    ASSERT_TRUE(d.failing_since.has_value());
    EXPECT_EQ(*d.failing_since, t0) << "the run of failures began at the first";
    EXPECT_EQ(d.reason, "connection refused");
    delays.push_back(d.delay.count());
    f.attempts = d.attempts;
    f.failing_since = d.failing_since;
    f.steady_now += d.delay;  // the next try fails at once
  }
  // 0.25, 0.5, 1, 2, 4, 8, then 15 s each (the cap) until 2 min, the last cut to the end.
  ASSERT_GE(delays.size(), 12u);
  EXPECT_EQ(std::vector<int64_t>(delays.begin(), delays.begin() + 8),
            (std::vector<int64_t>{250, 500, 1000, 2000, 4000, 8000, 15000, 15000}));
  int64_t total = 0;
  for (int64_t ms : delays) {
    EXPECT_LE(ms, 15000);
    total += ms;
  }
  EXPECT_EQ(total, 120'000) << "the last try comes at the end of the budget";
  EXPECT_EQ(d.action, Action::kFail);
  EXPECT_EQ(d.status.code(), Code::kUnavailable);
  EXPECT_NE(d.status.message().find("giving up after retrying for 2 min"), std::string::npos)
      << d.status.message();
  // The old budget (5 retries) would have given up within 7.75 s; this one kept trying.
  EXPECT_GT(d.attempts, 6);
}

TEST(RetryPolicyTest, ProgressStartsTheTimeAgain) {
  using Steady = std::chrono::steady_clock;
  DownloadOptions options;
  options.retry_for = milliseconds(10'000);
  Jitter jitter = [](int64_t, int64_t hi) { return hi; };
  FailedAttempt f = Transport(CURLE_RECV_ERROR, Status::Unavailable("reset"), 206);
  f.os_errno = ECONNRESET;
  f.steady_now = Steady::time_point{} + std::chrono::seconds(100);
  f.failing_since = Steady::time_point{} + std::chrono::seconds(91);  // failing for 9 s
  f.attempts = 7;
  f.attempt_start = 0;
  f.pos = 4096;  // but this request moved bytes
  RetryDecision d = DecideRetry(f, options, jitter);
  EXPECT_EQ(d.action, Action::kRetry);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(d.failing_since, f.steady_now);
  EXPECT_EQ(d.reason, "connection reset");
  // Without the bytes, 10 s of failing is the end.
  f.pos = 0;
  f.steady_now += std::chrono::seconds(1);
  d = DecideRetry(f, options, jitter);
  EXPECT_EQ(d.action, Action::kFail);
  EXPECT_NE(d.status.message().find("giving up after retrying for 10 s (8 attempts, connection "
                                    "reset): reset"),
            std::string::npos)
      << d.status.message();
}

TEST(RetryPolicyTest, RetryForZeroAndACountStillBound) {
  Jitter jitter = [](int64_t, int64_t hi) { return hi; };
  DownloadOptions options;
  options.retry_for = milliseconds(0);
  RetryDecision d = DecideRetry(Http(503), options, jitter);
  EXPECT_EQ(d.action, Action::kFail) << "no retry at all";
  // A count, when set, ends it first.
  options.retry_for = std::chrono::minutes(2);
  options.retry_count = 1;
  FailedAttempt f = Http(503);
  d = DecideRetry(f, options, jitter);
  EXPECT_EQ(d.action, Action::kRetry);
  f.attempts = d.attempts;
  f.failing_since = d.failing_since;
  d = DecideRetry(f, options, jitter);
  EXPECT_EQ(d.action, Action::kFail);
  EXPECT_NE(d.status.message().find("giving up after 1 retries"), std::string::npos);
  // Without a count, a redirect target's refusals are still bounded (kMaxResolveAgain).
  options.retry_count = -1;
  FailedAttempt r = Http(403);
  r.request_url = kCdn;
  int tries = 0;
  for (;; ++tries) {
    d = DecideRetry(r, options, jitter);
    if (d.action != Action::kRetry) break;
    r.attempts = d.attempts;
  }
  EXPECT_EQ(tries, kMaxResolveAgain + 1);
}

TEST(RetryPolicyTest, ReasonsInAFewWords) {
  auto reason = [](CURLcode code, int os_errno = 0, int status = 0) {
    FailedAttempt f = Transport(code, Status::Unavailable("x"), status);
    f.os_errno = os_errno;
    return RetryReason(f);
  };
  EXPECT_EQ(reason(CURLE_COULDNT_CONNECT, ECONNREFUSED), "connection refused");
  EXPECT_EQ(reason(CURLE_COULDNT_CONNECT, ENETUNREACH), "network unreachable");
  EXPECT_EQ(reason(CURLE_COULDNT_CONNECT), "could not connect");
  EXPECT_EQ(reason(CURLE_COULDNT_RESOLVE_HOST), "could not resolve the host");
  EXPECT_EQ(reason(CURLE_OPERATION_TIMEDOUT), "timed out");
  EXPECT_EQ(reason(CURLE_RECV_ERROR, ECONNRESET), "connection reset");
  EXPECT_EQ(reason(CURLE_GOT_NOTHING), "empty reply from the server");
  EXPECT_EQ(reason(CURLE_COULDNT_CONNECT, ECONNREFUSED, 302), "connection refused")
      << "a redirect hop's status is not the answer";
  EXPECT_EQ(RetryReason(Http(503)), "HTTP 503");
}

TEST(RetryPolicyTest, RestartsAreBounded) {
  for (int i = 1; i <= kMaxRestarts; ++i) EXPECT_TRUE(CheckRestart(i, "changed").ok());
  Status s = CheckRestart(kMaxRestarts + 1, "the file at u changed on the server");
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_EQ(s.message(),
            "the file at u changed on the server; it changed 3 times during the download, "
            "giving up");
}

TEST(ProgressBoundTest, FailsOnlyWhenTheTransferStopsAdvancing) {
  using Clock = ProgressBound::Clock;
  const Clock::time_point t0{};
  auto at = [&](int s) { return t0 + std::chrono::seconds(s); };
  const milliseconds limit(10'000);
  const char* url = "https://user:pw@models.example/m.bin?token=secret";
  ProgressBound bound;
  bound.Restart(t0);
  struct Step {
    int second;
    uint64_t done;
    bool fails;
  };
  // A trickle of a byte a second (whatever the reconnects) is no progress; 64 KiB is.
  const std::vector<Step> steps = {
      {1, 1, false},
      {5, kMinProgressBytes, false},  // advance: clock restarts at 5
      {10, kMinProgressBytes + 5, false},
      {14, kMinProgressBytes + 9, false},
      {15, kMinProgressBytes + 10, true},
  };
  for (const Step& s : steps) {
    SCOPED_TRACE(s.second);
    Status st = bound.Check(s.done, std::nullopt, at(s.second), limit, url);
    EXPECT_EQ(!st.ok(), s.fails) << st.ToString();
    if (!st.ok()) {
      EXPECT_EQ(st.code(), Code::kUnavailable);
      EXPECT_NE(st.message().find("for 10 s (less than 64"), std::string::npos) << st.message();
      EXPECT_EQ(st.message().find("secret"), std::string::npos) << st.message();
      EXPECT_NE(st.message().find("65546 bytes so far"), std::string::npos) << st.message();
    }
  }
}

TEST(ProgressBoundTest, ReachingTheEndCountsAndPausesRestartTheClock) {
  using Clock = ProgressBound::Clock;
  const Clock::time_point t0{};
  auto at = [&](int s) { return t0 + std::chrono::seconds(s); };
  const milliseconds limit(10'000);
  ProgressBound bound;
  bound.Restart(t0);
  // A small file's last bytes count as progress, though fewer than kMinProgressBytes.
  EXPECT_TRUE(bound.Check(100, uint64_t{100}, at(9), limit, "u").ok());
  EXPECT_TRUE(bound.Check(100, uint64_t{100}, at(18), limit, "u").ok());
  EXPECT_FALSE(bound.Check(100, uint64_t{100}, at(19), limit, "u").ok());
  // A resume restarts the clock; a start-over lowers the mark.
  bound.Restart(at(30));
  EXPECT_TRUE(bound.Check(0, std::nullopt, at(39), limit, "u").ok());
  EXPECT_TRUE(bound.Check(kMinProgressBytes, std::nullopt, at(39), limit, "u").ok());
  EXPECT_TRUE(bound.Check(kMinProgressBytes, std::nullopt, at(48), limit, "u").ok());
  // No bound at all.
  EXPECT_TRUE(bound.Check(kMinProgressBytes, std::nullopt, at(1000), milliseconds(0), "u").ok());
}

}  // namespace
}  // namespace modeld::engine
