// The engine's pacing against a real HTTP origin: a connection gone slow mid-file is
// replaced, rate limits hold (and change while a download runs), the per-host cap holds
// across transfers, the connection count ramps up on a capped origin, and a stall is
// reported as one.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>

#include "engine/engine.h"
#include "engine/pacing_policy.h"
#include "engine/rate_limit.h"
#include "engine_harness.h"
#include "origin.h"

namespace modeld::testing {
namespace {

using engine::Stage;
using engine::TransferEvent;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

class EnginePacingTest : public ::testing::Test {
 protected:
  engine::DownloadRequest Request(const std::string& path, const std::string& content,
                                  const std::string& dest = "model.bin") {
    engine::DownloadRequest req;
    req.url = origin_.Url(path);
    req.dest = dir_ / dest;
    req.checksum = Checksum{HashAlgorithm::kSha256, Sha256Hex(content)};
    req.options.stall_timeout = seconds(60);  // the engine must act long before this
    req.options.max_backoff = milliseconds(200);
    return req;
  }
  void ExpectInstalled(const TransferEvent& ev, const std::string& content,
                       const std::string& dest = "model.bin") {
    ASSERT_EQ(ev.stage, Stage::kCompleted) << ev.status.ToString();
    EXPECT_EQ(FileSha256(dir_ / dest), Sha256Hex(content));
  }
  static double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

  TestOrigin origin_;
  ScratchDir dir_;
};

// One connection of a segmented download slows to 10 KB/s from the middle of the file.
// Its piece (1.5 MiB here) is too small for the tail's work stealing to split, so without
// a replacement the download would wait about 150 s on it.
TEST_F(EnginePacingTest, AConnectionSlowFromMidFileIsReplacedAndTheDownloadFinishesFast) {
  std::string data = RandomBytes(48 * kMiB, 41);
  origin_.Put("/m", {.content = data,
                     .rate = 4 * kMiB,
                     .slow_from = static_cast<int64_t>(24 * kMiB + 4096),
                     .slow_rate = 10'000});
  auto req = Request("/m", data);
  req.options.max_connections = 8;
  auto start = Clock::now();
  auto ev = Download(req);
  double took = Seconds(Clock::now() - start);
  ExpectInstalled(ev, data);
  EXPECT_LT(took, 30.0 * kSanitizerSlowdown) << "the slow connection was waited on";
  // The slow response was abandoned: only a little of its range came twice.
  EXPECT_LT(origin_.BodyBytes("/m"), data.size() + 4 * kMiB);
  bool retaken = false;
  for (const auto& r : origin_.Requests("/m")) {
    uint64_t from = std::stoull(r.range.substr(r.range.find('=') + 1));
    if (from > 24 * kMiB && from < 24 * kMiB + 2 * kMiB) retaken = true;
  }
  EXPECT_TRUE(retaken) << "a fresh connection asked for the rest of the slow range";
}

// A download on one connection (no siblings to compare with) slows to 10 KB/s: it is
// compared with the rate it had, and a fresh connection takes over. The same under an
// engine limit that never binds (a ceiling above what the upstream gives).
TEST_F(EnginePacingTest, ASingleConnectionFarBelowItsEarlierRateIsReplaced) {
  std::string data = RandomBytes(8 * kMiB, 42);
  origin_.Put("/m", {.content = data,
                     .rate = 2 * kMiB,
                     .slow_from = static_cast<int64_t>(4 * kMiB),
                     .slow_rate = 10'000});
  for (uint64_t ceiling : {uint64_t{0}, uint64_t{1} << 30}) {
    SCOPED_TRACE(ceiling);
    origin_.ResetFaults("/m");
    std::filesystem::remove(dir_ / "model.bin");
    auto req = Request("/m", data);
    req.options.max_connections = 1;
    engine::Engine eng;
    eng.SetMaxRate(ceiling);
    EventLog log;
    auto start = Clock::now();
    eng.Submit(req, log.Callback());
    ExpectInstalled(log.WaitTerminal(), data);
    EXPECT_LT(Seconds(Clock::now() - start), 30.0 * kSanitizerSlowdown)
        << "4 MiB at 10 KB/s would take 400 s";
  }
}

// A connection that is slow because a rate limit holds it is not replaced.
TEST_F(EnginePacingTest, ARateLimitHoldsTheTransferToItsCap) {
  std::string data = RandomBytes(6 * kMiB, 43);
  origin_.Put("/m", {.content = data});
  auto req = Request("/m", data);
  req.rate_limit = std::make_shared<engine::RateLimit>(2 * kMiB);
  auto start = Clock::now();
  auto ev = Download(req);
  double took = Seconds(Clock::now() - start);
  ExpectInstalled(ev, data);
  // 6 MiB at 2 MiB/s: 3 s, less a burst (50 ms) and a read's overdraft.
  EXPECT_GE(took, 2.7);
  EXPECT_LT(took, 6.0 * kSanitizerSlowdown);
  EXPECT_EQ(origin_.BodyBytes("/m"), data.size()) << "nothing fetched twice";
}

TEST_F(EnginePacingTest, ARateLimitChangedMidDownloadTakesEffectWithinASecond) {
  std::string data = RandomBytes(24 * kMiB, 44);
  origin_.Put("/m", {.content = data});
  auto req = Request("/m", data);
  auto limit = std::make_shared<engine::RateLimit>(1 * kMiB);
  req.rate_limit = limit;
  engine::Engine eng;
  EventLog log;
  auto start = Clock::now();
  eng.Submit(req, log.Callback());
  ASSERT_TRUE(log.WaitFor([](const TransferEvent& e) { return e.done_bytes >= 2 * kMiB; }));
  auto slow_phase = Clock::now() - start;
  EXPECT_GE(Seconds(slow_phase), 1.7) << "2 MiB at 1 MiB/s";
  uint64_t at_change = log.events().back().done_bytes;
  auto changed = Clock::now();
  limit->Set(16 * kMiB);
  ASSERT_TRUE(
      log.WaitFor([&](const TransferEvent& e) { return e.done_bytes >= at_change + 8 * kMiB; }));
  // 8 MiB: 0.5 s at the new rate, 8 s at the old one.
  EXPECT_LT(Seconds(Clock::now() - changed), 2.5 * kSanitizerSlowdown);
  limit->Set(0);  // and off
  ExpectInstalled(log.WaitTerminal(), data);
}

TEST_F(EnginePacingTest, TheEnginesRateLimitHoldsEveryTransferTogether) {
  std::string a = RandomBytes(3 * kMiB, 45), b = RandomBytes(3 * kMiB, 46);
  origin_.Put("/a", {.content = a});
  origin_.Put("/b", {.content = b});
  engine::Engine eng;
  eng.SetMaxRate(2 * kMiB);
  EXPECT_EQ(eng.max_rate(), 2 * kMiB);
  EventLog la, lb;
  auto start = Clock::now();
  eng.Submit(Request("/a", a, "a.bin"), la.Callback());
  eng.Submit(Request("/b", b, "b.bin"), lb.Callback());
  ExpectInstalled(la.WaitTerminal(), a, "a.bin");
  ExpectInstalled(lb.WaitTerminal(), b, "b.bin");
  EXPECT_GE(Seconds(Clock::now() - start), 2.7) << "6 MiB at 2 MiB/s together";
}

// A limit well below what the no-progress bound asks (64 KiB within progress_timeout)
// holds the transfer back on purpose: that is not an upstream that stopped.
TEST_F(EnginePacingTest, ATightRateLimitIsNotTakenForAStall) {
  std::string data = RandomBytes(48 * 1024, 55);
  origin_.Put("/m", {.content = data});
  auto req = Request("/m", data);
  req.options.progress_timeout = seconds(1);
  req.rate_limit = std::make_shared<engine::RateLimit>(16 * 1024);
  auto start = Clock::now();
  ExpectInstalled(Download(req), data);
  EXPECT_GE(Seconds(Clock::now() - start), 2.5) << "48 KiB at 16 KiB/s";
}

// The engine's limit is shared by transfers, not by connections: a download on one
// connection beside one on sixteen gets about half, not a seventeenth.
TEST_F(EnginePacingTest, TheEnginesLimitIsSharedByTransfersNotByConnections) {
  std::string big = RandomBytes(64 * kMiB, 56), small = RandomBytes(3 * kMiB, 57);
  origin_.Put("/big", {.content = big});
  origin_.Put("/small", {.content = small});
  engine::Engine eng;
  eng.SetMaxRate(4 * kMiB);
  EventLog lb, ls;
  auto big_req = Request("/big", big, "big.bin");
  big_req.options.max_connections = 16;
  auto big_id = eng.Submit(big_req, lb.Callback());
  ASSERT_TRUE(lb.WaitFor([](const TransferEvent& e) { return e.connections >= 8; }));
  auto small_req = Request("/small", small, "small.bin");
  small_req.options.max_connections = 1;
  auto start = Clock::now();
  eng.Submit(small_req, ls.Callback());
  ExpectInstalled(ls.WaitTerminal(), small, "small.bin");
  // 3 MiB at half of 4 MiB/s: 1.5 s; at a seventeenth: 13 s.
  EXPECT_LT(Seconds(Clock::now() - start), 6.0 * kSanitizerSlowdown);
  eng.Cancel(big_id);
  lb.WaitTerminal();
}

// Three downloads from one host, each allowed 16 connections, share a cap of 4.
TEST_F(EnginePacingTest, ThePerHostCapHoldsAcrossTransfers) {
  std::vector<std::string> files;
  for (int i = 0; i < 3; ++i) {
    files.push_back(RandomBytes(16 * kMiB, 50 + i));
    origin_.Put("/f" + std::to_string(i), {.content = files.back(), .rate = 4 * kMiB});
  }
  engine::Engine eng;
  eng.SetMaxConnectionsPerHost(4);
  std::vector<std::unique_ptr<EventLog>> logs;
  for (int i = 0; i < 3; ++i) {
    logs.push_back(std::make_unique<EventLog>());
    auto req = Request("/f" + std::to_string(i), files[i], "f" + std::to_string(i));
    req.options.max_connections = 16;
    eng.Submit(req, logs.back()->Callback());
  }
  for (int i = 0; i < 3; ++i) {
    ExpectInstalled(logs[i]->WaitTerminal(), files[i], "f" + std::to_string(i));
  }
  // Each transfer's first request may go out before the others hold their share.
  EXPECT_LE(origin_.MaxOpenConnections(), 4 + 2);
  for (int i = 0; i < 3; ++i) {
    int most = 0;
    for (const auto& e : logs[i]->events()) most = std::max(most, e.connections);
    EXPECT_GE(most, 1);
    EXPECT_LE(most, 4);
  }
}

// On an origin that caps each connection (as CDNs do), more connections bring more
// throughput, so the count ramps up to what the transfer may use.
TEST_F(EnginePacingTest, TheConnectionCountRampsUpWhileThroughputRises) {
  std::string data = RandomBytes(64 * kMiB, 47);
  origin_.Put("/m", {.content = data, .rate = 2 * kMiB});
  auto req = Request("/m", data);
  req.options.max_connections = 16;
  EventLog log;
  engine::Engine eng;
  eng.Submit(req, log.Callback());
  ExpectInstalled(log.WaitTerminal(), data);
  int first = 0, most = 0;
  for (const auto& e : log.events()) {
    if (e.stage == Stage::kDownloading && first == 0 && e.connections > 0) first = e.connections;
    most = std::max(most, e.connections);
  }
  EXPECT_LE(first, engine::kRampStart) << "it starts with a few";
  EXPECT_GE(most, 12) << "and adds while each addition pays";
}

// The upstream stops sending but keeps the connection open: within about a second the
// speed is 0, and after stalled_after the events say stalled with no ETA. Every response
// stops at the same offset: a fresh connection that replaces the stalled one (the engine
// may judge it slow, as under a sanitizer) stalls there too.
TEST_F(EnginePacingTest, AStallIsReportedAsOne) {
  std::string data = RandomBytes(4 * kMiB, 48);
  origin_.Put(
      "/m",
      {.content = data, .stall_after = 512 * 1024, .stall_times = -1, .stall_at_offset = true});
  auto req = Request("/m", data);
  req.options.max_connections = 1;
  req.options.stalled_after = seconds(2);
  struct Seen {
    std::mutex mu;
    std::vector<std::pair<Clock::time_point, TransferEvent>> events;
  } seen;
  EventLog log;
  auto forward = log.Callback();
  engine::Engine eng;
  auto id = eng.Submit(req, [&](const TransferEvent& e) {
    {
      std::lock_guard<std::mutex> lock(seen.mu);
      seen.events.emplace_back(Clock::now(), e);
    }
    forward(e);
  });
  ASSERT_TRUE(log.WaitFor([](const TransferEvent& e) { return e.stalled; }, seconds(30)));
  eng.Cancel(id);
  log.WaitTerminal();
  std::lock_guard<std::mutex> lock(seen.mu);
  // When the last byte arrived, and when the speed first read 0 after it.
  std::optional<Clock::time_point> last_byte, zero, stalled;
  uint64_t final_bytes = 0;
  for (const auto& [t, e] : seen.events) final_bytes = std::max(final_bytes, e.done_bytes);
  for (const auto& [t, e] : seen.events) {
    if (!last_byte && e.done_bytes == final_bytes) last_byte = t;
    if (last_byte && !zero && e.stage == Stage::kDownloading && e.bytes_per_second == 0) zero = t;
    if (!stalled && e.stalled) {
      stalled = t;
      EXPECT_EQ(e.bytes_per_second, 0);
      EXPECT_FALSE(e.eta_seconds.has_value());
      EXPECT_EQ(e.stage, Stage::kDownloading);
    }
  }
  ASSERT_TRUE(last_byte && zero && stalled);
  EXPECT_LT(Seconds(*zero - *last_byte), 2.0 * kSanitizerSlowdown) << "speed 0 within ~1 s";
  EXPECT_GE(Seconds(*stalled - *last_byte), 1.5) << "stalled only after stalled_after";
  EXPECT_LT(Seconds(*stalled - *last_byte), 4.0 * kSanitizerSlowdown);
}

}  // namespace
}  // namespace modeld::testing
