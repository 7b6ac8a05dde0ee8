// The engine against a real HTTP origin, one test per upstream behaviour: each ends
// with the file verified and installed, or a clear error and nothing installed.
#include "engine/engine.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstring>
#include <set>

#include "engine_harness.h"
#include "origin.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using engine::Stage;
using engine::TransferEvent;

class EngineTest : public ::testing::Test {
 protected:
  engine::DownloadRequest Request(const std::string& path, const std::string& content) {
    engine::DownloadRequest req;
    req.url = origin_.Url(path);
    req.dest = dir_ / "model.bin";
    req.checksum = Checksum{HashAlgorithm::kSha256, Sha256Hex(content)};
    req.options.stall_timeout = std::chrono::seconds(2);
    req.options.connect_timeout = std::chrono::seconds(5);
    req.options.max_backoff = std::chrono::milliseconds(200);
    return req;
  }
  void ExpectInstalled(const TransferEvent& ev, const std::string& content) {
    ASSERT_EQ(ev.stage, Stage::kCompleted) << ev.status.ToString();
    EXPECT_EQ(ev.sha256, Sha256Hex(content));
    EXPECT_EQ(FileSha256(dir_ / "model.bin"), Sha256Hex(content));
    ExpectNoLeftovers();
  }
  void ExpectNothingInstalled() { EXPECT_FALSE(fs::exists(dir_ / "model.bin")); }
  void ExpectNoLeftovers() {
    EXPECT_FALSE(fs::exists(dir_ / "model.bin.part"));
    EXPECT_FALSE(fs::exists(dir_ / "model.bin.part.journal"));
  }
  // Runs |req| until |bytes| are written, then stops it (keeping the partial).
  void DownloadPartly(const engine::DownloadRequest& req, uint64_t bytes) {
    engine::Engine eng;
    EventLog log;
    auto id = eng.Submit(req, log.Callback());
    ASSERT_TRUE(log.WaitFor([&](const TransferEvent& e) { return e.done_bytes >= bytes; }));
    eng.Stop(id);
    auto ev = log.WaitTerminal();
    ASSERT_EQ(ev.stage, Stage::kCancelled);
    EXPECT_EQ(ev.status.code(), Status::Code::kCancelled);
  }
  // Distinct range starts the origin served for |path|.
  std::set<std::string> Ranges(const std::string& path) {
    std::set<std::string> out;
    for (const auto& r : origin_.Requests(path)) out.insert(r.range);
    return out;
  }

  TestOrigin origin_;
  ScratchDir dir_;
};

TEST_F(EngineTest, SegmentedDownloadVerifiesAndInstallsAtomically) {
  std::string data = RandomBytes(40 * kMiB + 123, 1);
  origin_.Put("/m", {.content = data, .rate = 8 * kMiB});  // slow enough to watch progress
  EventLog log;
  engine::Engine eng;
  eng.Submit(Request("/m", data), log.Callback());
  auto ev = log.WaitTerminal();
  ExpectInstalled(ev, data);
  EXPECT_GE(Ranges("/m").size(), 8u) << "a 40 MiB file is fetched over many ranges";
  EXPECT_EQ(origin_.BodyBytes("/m"), data.size()) << "no byte fetched twice";
  // Stages in order, none skipped.
  std::vector<Stage> stages;
  for (const auto& e : log.events()) {
    if (stages.empty() || stages.back() != e.stage) stages.push_back(e.stage);
  }
  std::vector<Stage> want = {Stage::kResolving, Stage::kDownloading, Stage::kVerifying,
                             Stage::kInstalling, Stage::kCompleted};
  EXPECT_EQ(stages, want);
  int max_conns = 0;
  uint64_t last_done = 0;
  for (const auto& e : log.events()) {
    max_conns = std::max(max_conns, e.connections);
    EXPECT_GE(e.done_bytes, last_done) << "progress never goes backwards";
    last_done = e.done_bytes;
    if (e.stage == Stage::kDownloading && e.done_bytes > 0 && e.done_bytes < data.size()) {
      EXPECT_GT(e.bytes_per_second, 0);
      EXPECT_TRUE(e.eta_seconds.has_value());
    }
  }
  EXPECT_GT(max_conns, 1);
}

TEST_F(EngineTest, SmallFileUsesOneRequest) {
  std::string data = RandomBytes(100 * 1024, 2);
  origin_.Put("/small", {.content = data});
  ExpectInstalled(Download(Request("/small", data)), data);
  EXPECT_EQ(origin_.Requests("/small").size(), 1u);
}

TEST_F(EngineTest, EmptyFile) {
  origin_.Put("/empty", {.content = ""});
  ExpectInstalled(Download(Request("/empty", "")), "");
}

TEST_F(EngineTest, OtherChecksumAlgorithms) {
  std::string data = RandomBytes(3 * kMiB, 3);
  origin_.Put("/m", {.content = data});
  auto req = Request("/m", data);
  req.checksum = Checksum{HashAlgorithm::kMd5, HashHex(HashAlgorithm::kMd5, data)};
  ExpectInstalled(Download(req), data);
  req.checksum = Checksum{HashAlgorithm::kSha512, HashHex(HashAlgorithm::kSha512, data)};
  ExpectInstalled(Download(req), data);
}

// Files the Hub keeps in git (not LFS) are named by their git blob SHA-1.
TEST_F(EngineTest, GitBlobSha1Verifies) {
  std::string data = RandomBytes(3 * kMiB + 7, 30);
  origin_.Put("/config.json", {.content = data});
  auto req = Request("/config.json", data);
  req.checksum = Checksum{HashAlgorithm::kGitSha1, HashHex(HashAlgorithm::kGitSha1, data)};
  req.expected_size = data.size();
  ExpectInstalled(Download(req), data);
  fs::remove(dir_ / "model.bin");
  req.checksum->hex = HashHex(HashAlgorithm::kSha1, data);  // plain sha1 is not the blob id
  auto bad = Download(req);
  ASSERT_EQ(bad.stage, Stage::kFailed);
  EXPECT_EQ(bad.status.code(), Status::Code::kCorrupt);
  EXPECT_NE(bad.status.message().find("git-sha1:"), std::string::npos) << bad.status.message();
  req.expected_size.reset();
  auto no_size = Download(req);
  EXPECT_EQ(no_size.status.code(), Status::Code::kInvalidArgument);
  ExpectNothingInstalled();
}

TEST_F(EngineTest, DroppedConnectionsResumeTheirRange) {
  std::string data = RandomBytes(24 * kMiB, 4);
  origin_.Put("/m", {.content = data, .drop_after = 700 * 1024, .drop_times = 6});
  ExpectInstalled(Download(Request("/m", data)), data);
  // Dropped bytes are kept: the retries fetch only what was missing.
  EXPECT_EQ(origin_.BodyBytes("/m"), data.size());
}

TEST_F(EngineTest, ServiceUnavailableHonoursRetryAfter) {
  std::string data = RandomBytes(2 * kMiB, 5);
  origin_.Put("/m", {.content = data, .fail_status = 503, .fail_times = 2, .retry_after = "1"});
  auto start = std::chrono::steady_clock::now();
  ExpectInstalled(Download(Request("/m", data)), data);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(secs, 1.9) << "two Retry-After: 1 answers must be waited out (backoff is 200 ms)";
}

TEST_F(EngineTest, RateLimitedThenSucceeds) {
  std::string data = RandomBytes(2 * kMiB, 6);
  origin_.Put("/m", {.content = data, .fail_status = 429, .fail_times = 3, .retry_after = "0"});
  ExpectInstalled(Download(Request("/m", data)), data);
  int rate_limited = 0;
  for (const auto& r : origin_.Requests("/m")) rate_limited += r.status == 429;
  EXPECT_EQ(rate_limited, 3);
}

TEST_F(EngineTest, PersistentServerErrorFailsAfterRetries) {
  std::string data = RandomBytes(kMiB, 7);
  origin_.Put("/m", {.content = data, .fail_status = 500, .fail_times = -1});
  auto req = Request("/m", data);
  req.options.retry_count = 2;
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kUnavailable);
  EXPECT_NE(ev.status.message().find("HTTP 500"), std::string::npos) << ev.status.message();
  EXPECT_NE(ev.status.message().find("2 retries"), std::string::npos) << ev.status.message();
  EXPECT_EQ(origin_.Requests("/m").size(), 3u);
  ExpectNothingInstalled();
}

TEST_F(EngineTest, StalledConnectionIsReplaced) {
  std::string data = RandomBytes(3 * kMiB, 8);
  origin_.Put("/m", {.content = data, .stall_after = 256 * 1024, .stall_times = 1});
  auto req = Request("/m", data);
  req.options.stall_timeout = std::chrono::seconds(1);
  ExpectInstalled(Download(req), data);
}

TEST_F(EngineTest, CorruptBytesFailVerificationAndInstallNothing) {
  std::string data = RandomBytes(6 * kMiB, 9);
  origin_.Put("/m", {.content = data, .corrupt_offsets = {5 * kMiB + 17}});
  auto ev = Download(Request("/m", data));
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kCorrupt);
  const auto& msg = ev.status.message();
  EXPECT_NE(msg.find("model.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected sha256:" + Sha256Hex(data)), std::string::npos) << msg;
  std::string bad = data;
  bad[5 * kMiB + 17] ^= 0x5a;
  EXPECT_NE(msg.find("got sha256:" + Sha256Hex(bad)), std::string::npos) << msg;
  ExpectNothingInstalled();
  ExpectNoLeftovers();
}

TEST_F(EngineTest, FileChangingMidDownloadRestartsCleanly) {
  std::string v1 = RandomBytes(16 * kMiB, 10);
  std::string v2 = RandomBytes(16 * kMiB, 11);
  origin_.Put("/m", {.content = v1, .change_after = 3, .changed_content = v2});
  auto req = Request("/m", v2);
  req.options.piece_size = kMiB;
  req.options.max_connections = 4;
  ExpectInstalled(Download(req), v2);
  bool saw_if_range = false;
  for (const auto& r : origin_.Requests("/m")) saw_if_range |= !r.if_range.empty();
  EXPECT_TRUE(saw_if_range) << "ranged requests carry If-Range";
}

TEST_F(EngineTest, ServerWithoutRangeSupportFallsBackToOneStream) {
  std::string data = RandomBytes(20 * kMiB, 12);
  origin_.Put("/m", {.content = data, .ranges = false});
  ExpectInstalled(Download(Request("/m", data)), data);
  EXPECT_EQ(origin_.Requests("/m").size(), 1u);
}

TEST_F(EngineTest, OneStreamWithoutRangesRestartsFromZeroAfterADrop) {
  std::string data = RandomBytes(4 * kMiB, 13);
  origin_.Put("/m", {.content = data, .ranges = false, .drop_after = kMiB, .drop_times = 1});
  ExpectInstalled(Download(Request("/m", data)), data);
}

TEST_F(EngineTest, ChunkedBodyWithoutLength) {
  std::string data = RandomBytes(3 * kMiB + 5, 14);
  origin_.Put("/m", {.content = data, .chunked = true});
  ExpectInstalled(Download(Request("/m", data)), data);
}

TEST_F(EngineTest, LyingContentLengthFailsAndInstallsNothing) {
  std::string data = RandomBytes(2 * kMiB, 15);
  origin_.Put("/m", {.content = data, .lie_extra = 4096});
  auto req = Request("/m", data);
  req.checksum.reset();  // even without a checksum, a short file is never installed
  req.options.retry_count = 2;
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_FALSE(ev.status.message().empty());
  ExpectNothingInstalled();
}

TEST_F(EngineTest, ExpectedSizeMismatchFailsBeforeDownloading) {
  std::string data = RandomBytes(2 * kMiB, 16);
  origin_.Put("/m", {.content = data});
  auto req = Request("/m", data);
  req.expected_size = 12345;
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kCorrupt);
  EXPECT_NE(ev.status.message().find("12345"), std::string::npos);
  ExpectNothingInstalled();
}

TEST_F(EngineTest, NotFoundFailsAtOnce) {
  auto req = Request("/nope", "");
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kNotFound);
  EXPECT_NE(ev.status.message().find("/nope"), std::string::npos);
  EXPECT_EQ(origin_.Requests("/nope").size(), 1u) << "a 404 is not retried";
  ExpectNothingInstalled();
  ExpectNoLeftovers();
}

TEST_F(EngineTest, BadUrlIsInvalidArgument) {
  engine::DownloadRequest req;
  req.url = "not a url";
  req.dest = dir_ / "model.bin";
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kInvalidArgument);
}

TEST_F(EngineTest, AuthorizationIsNeverSentToAnotherHost) {
  TestOrigin cdn;
  std::string data = RandomBytes(12 * kMiB, 17);
  cdn.Put("/blob", {.content = data});
  origin_.Put("/m", {.redirect_to = cdn.Url("/blob")});
  auto req = Request("/m", data);
  req.headers = {"Authorization: Bearer secret-token"};
  ExpectInstalled(Download(req), data);
  auto at_origin = origin_.Requests("/m");
  ASSERT_FALSE(at_origin.empty());
  EXPECT_EQ(at_origin[0].authorization, "Bearer secret-token");
  auto at_cdn = cdn.Requests("/blob");
  ASSERT_GT(at_cdn.size(), 1u) << "segments go straight to the redirect target";
  for (const auto& r : at_cdn) EXPECT_EQ(r.authorization, "") << "token leaked to the CDN";
}

TEST_F(EngineTest, ExpiredRedirectTargetIsResolvedAgainKeepingBytes) {
  TestOrigin cdn;
  std::string data = RandomBytes(16 * kMiB, 18);
  cdn.Put("/signed-1", {.content = data, .rate = 4 * kMiB});
  cdn.Put("/signed-2", {.content = data});
  origin_.Put("/m", {.redirect_to = cdn.Url("/signed-1")});
  engine::Engine eng;
  EventLog log;
  auto req = Request("/m", data);
  req.options.max_connections = 4;
  eng.Submit(req, log.Callback());
  // Once a quarter is in, the signed link expires and the origin hands out a new one.
  ASSERT_TRUE(log.WaitFor([&](const TransferEvent& e) { return e.done_bytes >= 4 * kMiB; }));
  cdn.Update("/signed-1", [](FileSpec& f) {
    f.fail_status = 403;
    f.fail_times = -1;
  });
  origin_.Update("/m", [&](FileSpec& f) { f.redirect_to = cdn.Url("/signed-2"); });
  auto ev = log.WaitTerminal();
  ExpectInstalled(ev, data);
  uint64_t fetched = cdn.BodyBytes("/signed-1") + cdn.BodyBytes("/signed-2");
  EXPECT_LT(fetched, data.size() + data.size() / 10) << "bytes before the expiry were kept";
  EXPECT_GT(cdn.BodyBytes("/signed-2"), 0u);
}

TEST_F(EngineTest, IdleConnectionsStealTheTail) {
  std::string data = RandomBytes(16 * kMiB, 19);
  origin_.Put("/m", {.content = data, .rate = 8 * kMiB});
  auto req = Request("/m", data);
  req.options.piece_size = 16 * kMiB;  // one piece: without stealing, one connection does all
  req.options.max_connections = 4;
  ExpectInstalled(Download(req), data);
  EXPECT_GE(Ranges("/m").size(), 4u) << "idle connections split the running lease";
  // A split lease's first connection stops at the split; what the server had already
  // pushed into the socket past that point is the only waste.
  EXPECT_LT(origin_.BodyBytes("/m"), data.size() + data.size() / 10);
}

TEST_F(EngineTest, StopKeepsPartialAndNextRunResumes) {
  std::string data = RandomBytes(32 * kMiB, 20);
  origin_.Put("/m", {.content = data, .rate = 16 * kMiB});
  auto req = Request("/m", data);
  req.options.checkpoint_interval = std::chrono::milliseconds(100);
  DownloadPartly(req, 12 * kMiB);
  ExpectNothingInstalled();
  ASSERT_TRUE(fs::exists(dir_ / "model.bin.part"));
  ASSERT_TRUE(fs::exists(dir_ / "model.bin.part.journal"));
  uint64_t first_run = origin_.BodyBytes("/m");
  origin_.ResetLog();
  origin_.Update("/m", [](FileSpec& f) { f.rate = 0; });
  auto ev = Download(req);
  ExpectInstalled(ev, data);
  EXPECT_GE(ev.resumed_bytes, 12 * kMiB);
  EXPECT_LE(origin_.BodyBytes("/m"), data.size() - ev.resumed_bytes + 4 * kMiB);
  EXPECT_GE(first_run + origin_.BodyBytes("/m"), data.size());
}

TEST_F(EngineTest, ResumeAgainstAChangedFileStartsOver) {
  std::string v1 = RandomBytes(24 * kMiB, 21);
  std::string v2 = RandomBytes(24 * kMiB, 22);
  origin_.Put("/m", {.content = v1, .rate = 16 * kMiB});
  auto req = Request("/m", v2);
  req.checksum.reset();
  req.options.checkpoint_interval = std::chrono::milliseconds(100);
  DownloadPartly(req, 8 * kMiB);
  origin_.Put("/m", {.content = v2, .etag = "\"v2\""});
  auto ev = Download(req);
  ExpectInstalled(ev, v2);
}

TEST_F(EngineTest, CancelTakesEffectWithin200msAndRemovesPartial) {
  std::string data = RandomBytes(64 * kMiB, 23);
  origin_.Put("/m", {.content = data, .rate = 4 * kMiB});
  engine::Engine eng;
  EventLog log;
  auto id = eng.Submit(Request("/m", data), log.Callback());
  ASSERT_TRUE(log.WaitFor([](const TransferEvent& e) { return e.done_bytes > kMiB; }));
  auto start = std::chrono::steady_clock::now();
  eng.Cancel(id);
  auto ev = log.WaitTerminal();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ev.stage, Stage::kCancelled);
  EXPECT_LT(took, std::chrono::milliseconds(200) * kSanitizerSlowdown);
  ExpectNothingInstalled();
  ExpectNoLeftovers();
}

TEST_F(EngineTest, PauseAndResume) {
  std::string data = RandomBytes(24 * kMiB, 24);
  origin_.Put("/m", {.content = data, .rate = 8 * kMiB});
  engine::Engine eng;
  EventLog log;
  auto id = eng.Submit(Request("/m", data), log.Callback());
  ASSERT_TRUE(log.WaitFor([](const TransferEvent& e) { return e.done_bytes > 2 * kMiB; }));
  auto start = std::chrono::steady_clock::now();
  eng.Pause(id);
  ASSERT_TRUE(log.WaitFor([](const TransferEvent& e) { return e.stage == Stage::kPaused; }));
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(200) * kSanitizerSlowdown);
  origin_.Update("/m", [](FileSpec& f) { f.rate = 0; });
  eng.Resume(id);
  auto ev = log.WaitTerminal();
  ExpectInstalled(ev, data);
  EXPECT_LE(origin_.BodyBytes("/m"), data.size() + 2 * kMiB) << "resume keeps what was fetched";
}

TEST_F(EngineTest, SecondDownloadOfTheSameFileIsRefused) {
  std::string data = RandomBytes(16 * kMiB, 25);
  origin_.Put("/m", {.content = data, .rate = 8 * kMiB});
  engine::Engine a, b;
  EventLog la, lb;
  a.Submit(Request("/m", data), la.Callback());
  ASSERT_TRUE(la.WaitFor([](const TransferEvent& e) { return e.stage == Stage::kDownloading; }));
  b.Submit(Request("/m", data), lb.Callback());
  auto evb = lb.WaitTerminal();
  ASSERT_EQ(evb.stage, Stage::kFailed);
  EXPECT_EQ(evb.status.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(evb.status.message().find("is locked); wait for it to finish"), std::string::npos)
      << evb.status.message();
  origin_.Update("/m", [](FileSpec& f) { f.rate = 0; });
  ExpectInstalled(la.WaitTerminal(), data);
}

TEST_F(EngineTest, TotalTimeoutFailsAndKeepsPartial) {
  std::string data = RandomBytes(16 * kMiB, 26);
  // At least 8 s of transfer (16 connections at most, 128 KiB/s each) cut at 3 s: long
  // enough after the start for the probe to be done and the partial's journal written,
  // also under ASan on a busy machine.
  origin_.Put("/m", {.content = data, .rate = 128 * 1024});
  auto req = Request("/m", data);
  req.options.total_timeout = std::chrono::seconds(3);
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kUnavailable);
  EXPECT_NE(ev.status.message().find("timed out"), std::string::npos);
  ExpectNothingInstalled();
  EXPECT_TRUE(fs::exists(dir_ / "model.bin.part.journal"));
}

// Disk-space tests need a small file system: a tmpfs, which only root may mount.
class SmallDiskTest : public EngineTest {
 protected:
  void SetUp() override {
    mnt_ = dir_ / "small";
    fs::create_directories(mnt_);
    if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=4m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
  fs::path mnt_;
  bool mounted_ = false;
};

TEST_F(SmallDiskTest, InsufficientSpaceFailsBeforeTheFirstByte) {
  std::string data = RandomBytes(8 * kMiB, 27);
  origin_.Put("/m", {.content = data});
  auto req = Request("/m", data);
  req.dest = mnt_ / "model.bin";
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kNoSpace);
  const auto& msg = ev.status.message();
  EXPECT_NE(msg.find("Insufficient storage space"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Required: 8.0 MiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Available: "), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(mnt_ / "model.bin"));
  EXPECT_FALSE(fs::exists(mnt_ / "model.bin.part")) << "nothing kept: not a byte was fetched";
}

TEST_F(SmallDiskTest, DiskFullMidDownloadFailsCleanly) {
  // No length announced, so nothing can be reserved up front: the disk fills mid-way.
  std::string data = RandomBytes(8 * kMiB, 28);
  origin_.Put("/m", {.content = data, .chunked = true});
  auto req = Request("/m", data);
  req.dest = mnt_ / "model.bin";
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kNoSpace) << ev.status.ToString();
  EXPECT_NE(ev.status.message().find("disk full"), std::string::npos);
  EXPECT_FALSE(fs::exists(mnt_ / "model.bin"));
}

}  // namespace
}  // namespace modeld::testing
