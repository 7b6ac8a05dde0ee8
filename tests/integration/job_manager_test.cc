// The job manager over a real store and engine, against the test origin.
#include "service/job_manager.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "engine_harness.h"
#include "origin.h"
#include "service/pull_support.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using service::JobEvent;

// Records every event; waits for conditions on them.
class BusLog {
 public:
  explicit BusLog(service::EventBus& bus) : bus_(bus) {
    id_ = bus.Subscribe([this](const JobEvent& ev) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(ev);
      cv_.notify_all();
    });
  }
  ~BusLog() { bus_.Unsubscribe(id_); }
  bool WaitFor(const std::function<bool(const JobEvent&)>& pred,
               std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout,
                        [&] { return std::any_of(events_.begin(), events_.end(), pred); });
  }
  bool WaitState(const std::string& job, const std::string& state) {
    return WaitFor([&](const JobEvent& e) {
      return e.job_id == job && service::JobStateName(e.state) == state;
    });
  }
  // States of |job| in order, consecutive duplicates folded.
  std::vector<std::string> States(const std::string& job) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) {
      std::string st(service::JobStateName(e.state));
      if (e.job_id == job && (out.empty() || out.back() != st)) out.push_back(st);
    }
    return out;
  }
  // Index of the first event matching, or -1.
  int IndexOf(const std::string& job, const std::string& state) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < events_.size(); ++i) {
      if (events_[i].job_id == job && service::JobStateName(events_[i].state) == state)
        return static_cast<int>(i);
    }
    return -1;
  }

 private:
  service::EventBus& bus_;
  uint64_t id_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<JobEvent> events_;
};

class JobManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    auto st = OpenTestStore(dir_.path());
    ASSERT_TRUE(st);
    svc_ = std::make_unique<service::ModelService>(std::move(st));
  }
  service::PullRequest Req(const std::string& path, const std::string& name) {
    service::PullRequest r;
    r.url = origin_.Url(path);
    r.ref = {name, "v1"};
    r.options.max_backoff = std::chrono::milliseconds(100);
    return r;
  }

  TestOrigin origin_;
  ScratchDir dir_;
  std::unique_ptr<service::ModelService> svc_;
};

TEST_F(JobManagerTest, RunsAJobThroughEveryState) {
  std::string data = RandomBytes(8 * kMiB, 1);
  origin_.Put("/a.bin", {.content = data, .rate = 8 * kMiB});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto job = jm.Submit(Req("/a.bin", "a"), 0);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->job.id.rfind("dwnld_", 0), 0u);
  ASSERT_TRUE(log.WaitState(job->job.id, "completed"));
  std::vector<std::string> want = {"queued",    "resolving",  "downloading",
                                   "verifying", "installing", "completed"};
  EXPECT_EQ(log.States(job->job.id), want);
  auto done = jm.Get(job->job.id);
  ASSERT_TRUE(done.has_value() && done->result.has_value());
  EXPECT_EQ(FileSha256(done->result->path / "a.bin"), Sha256Hex(data));
  jm.FlushRecordsForTest();
  auto rec = svc_->StoreForTest().GetJob(job->job.id);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->state, "completed");
  EXPECT_EQ(rec->bytes_done, data.size());
}

TEST_F(JobManagerTest, IdenticalRequestsJoinOneJob) {
  origin_.Put("/a.bin", {.content = RandomBytes(4 * kMiB, 2), .rate = 4 * kMiB});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  bool joined = true;
  auto a = jm.Submit(Req("/a.bin", "a"), 0);
  joined = a->joined;
  EXPECT_FALSE(joined);
  auto b = jm.Submit(Req("/a.bin", "a"), 0);
  joined = b->joined;
  EXPECT_TRUE(joined);
  EXPECT_EQ(a->job.id, b->job.id);
  ASSERT_TRUE(log.WaitState(a->job.id, "completed"));
  EXPECT_EQ(jm.List().size(), 1u);
}

TEST_F(JobManagerTest, QueueHonoursTheLimitAndPriority) {
  for (const char* p : {"/1", "/2", "/3"})
    origin_.Put(p, {.content = RandomBytes(2 * kMiB, 3), .rate = 4 * kMiB});
  service::JobManager jm(*svc_, 1);
  BusLog log(jm.events());
  auto first = jm.Submit(Req("/1", "one"), 0);
  ASSERT_TRUE(log.WaitState(first->job.id, "downloading"));
  auto low = jm.Submit(Req("/2", "two"), 0);
  auto high = jm.Submit(Req("/3", "three"), 5);
  EXPECT_EQ(jm.Get(low->job.id)->last.state, service::JobState::kQueued);
  ASSERT_TRUE(log.WaitState(low->job.id, "completed"));
  EXPECT_LT(log.IndexOf(first->job.id, "completed"), log.IndexOf(high->job.id, "resolving"))
      << "one download at a time";
  EXPECT_LT(log.IndexOf(high->job.id, "completed"), log.IndexOf(low->job.id, "resolving"))
      << "higher priority first";
}

TEST_F(JobManagerTest, CancelStopsAndRemovesThePartial) {
  origin_.Put("/big", {.content = RandomBytes(32 * kMiB, 4), .rate = 2 * kMiB});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto job = jm.Submit(Req("/big", "big"), 0);
  ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) { return e.bytes_done > kMiB; }));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(jm.Cancel(job->job.id).ok());
  ASSERT_TRUE(log.WaitState(job->job.id, "cancelled"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_FALSE(fs::exists(svc_->StoreForTest().PartialDir(service::PullKey({"big", "v1"}))));
  EXPECT_EQ(svc_->StoreForTest().Get({"big", "v1"}).error().code(), Status::Code::kNotFound);
  EXPECT_EQ(jm.Cancel(job->job.id).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(jm.Cancel("dwnld_nope").code(), Status::Code::kNotFound);
}

TEST_F(JobManagerTest, PauseAndResumeKeepTheBytes) {
  std::string data = RandomBytes(24 * kMiB, 5);
  origin_.Put("/big", {.content = data, .rate = 4 * kMiB});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto job = jm.Submit(Req("/big", "big"), 0);
  ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) { return e.bytes_done > 4 * kMiB; }));
  ASSERT_TRUE(jm.Pause(job->job.id).ok());
  ASSERT_TRUE(log.WaitState(job->job.id, "paused"));
  EXPECT_EQ(jm.Pause(job->job.id).code(), Status::Code::kFailedPrecondition);
  origin_.Update("/big", [](FileSpec& f) { f.rate = 0; });
  ASSERT_TRUE(jm.Resume(job->job.id).ok());
  ASSERT_TRUE(log.WaitState(job->job.id, "completed"));
  EXPECT_LT(origin_.BodyBytes("/big"), data.size() + 6 * kMiB);
}

TEST_F(JobManagerTest, UnfinishedJobsResumeAfterARestart) {
  std::string data = RandomBytes(24 * kMiB, 6);
  origin_.Put("/big", {.content = data, .rate = 4 * kMiB});
  std::string id;
  {
    service::JobManager jm(*svc_, 3);
    BusLog log(jm.events());
    auto job = jm.Submit(Req("/big", "big"), 0);
    id = job->job.id;
    ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) { return e.bytes_done > 8 * kMiB; }));
  }  // the "server" goes away mid-download
  svc_.reset();
  Open();
  origin_.Update("/big", [](FileSpec& f) { f.rate = 0; });
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto n = jm.Recover();
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1);
  ASSERT_TRUE(log.WaitState(id, "completed"));
  auto got = jm.Get(id);
  ASSERT_TRUE(got.has_value() && got->result.has_value());
  EXPECT_EQ(FileSha256(got->result->path / "big"), Sha256Hex(data));
  EXPECT_LT(origin_.BodyBytes("/big"), data.size() + data.size() / 4);
}

// Killed between the install's commit and the job's record (bench/kill_installing.sh):
// the restarted job finds its model installed, and that is success, not AlreadyExists.
TEST_F(JobManagerTest, ARecoveredJobWhoseModelWasInstalledCompletes) {
  std::string data = RandomBytes(2 * kMiB, 7);
  origin_.Put("/m.bin", {.content = data});
  auto req = Req("/m.bin", "m");
  ASSERT_TRUE(svc_->Pull(req, nullptr).has_value());
  store::JobRecord rec;
  rec.id = "dwnld_0000000000aa";
  rec.model = "m:v1";
  rec.request = service::PullRequestToJson(req, 0);
  rec.state = "installing";
  rec.bytes_done = rec.run_start_bytes = data.size();
  ASSERT_TRUE(svc_->StoreForTest().SaveJob(rec).ok());
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  ASSERT_EQ(*jm.Recover(), 1);
  ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) { return e.job_id == rec.id && e.terminal(); }));
  auto got = jm.Get(rec.id);
  EXPECT_EQ(got->last.state, service::JobState::kCompleted) << got->last.status.ToString();
  ASSERT_TRUE(got->result.has_value());
  EXPECT_EQ(FileSha256(got->result->path / "m.bin"), Sha256Hex(data));
}

// A job whose runs keep dying without progress is not retried for ever.
TEST_F(JobManagerTest, RecoveryGivesUpOnAJobThatKeepsDyingWithoutProgress) {
  origin_.Put("/x.bin", {.content = RandomBytes(kMiB, 8)});
  auto save = [&](const std::string& id, int runs, uint64_t done, uint64_t start) {
    store::JobRecord rec;
    rec.id = id;
    rec.model = id + ":v1";
    rec.request = service::PullRequestToJson(Req("/x.bin", id), 0);
    rec.state = "downloading";
    rec.bytes_done = done;
    rec.run_start_bytes = start;
    rec.interrupted_runs = runs;
    ASSERT_TRUE(svc_->StoreForTest().SaveJob(rec).ok());
  };
  save("dwnld_0000000000b1", service::JobManager::kMaxInterruptedRuns, 0, 0);   // the last straw
  save("dwnld_0000000000b2", service::JobManager::kMaxInterruptedRuns, 10, 0);  // it moved: go on
  save("dwnld_0000000000b3", 1, 0, 0);                                          // once more
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  ASSERT_EQ(*jm.Recover(), 2);
  auto failed = jm.Get("dwnld_0000000000b1");
  EXPECT_EQ(failed->last.state, service::JobState::kFailed);
  EXPECT_NE(failed->last.status.message().find("not retried again"), std::string::npos)
      << failed->last.status.ToString();
  jm.FlushRecordsForTest();
  EXPECT_EQ(svc_->StoreForTest().GetJob("dwnld_0000000000b1")->state, "failed");
  ASSERT_TRUE(log.WaitState("dwnld_0000000000b2", "completed"));
  ASSERT_TRUE(log.WaitState("dwnld_0000000000b3", "completed"));
}

// Another process pulling the same model version holds its lock: this job waits, and a
// cancel ends the wait at once (a blocking flock used to sit there).
TEST_F(JobManagerTest, AJobWaitingForAnotherProcesssPullCancelsPromptly) {
  origin_.Put("/w.bin", {.content = RandomBytes(kMiB, 9)});
  auto held = svc_->StoreForTest().Lock(service::PullKey({"w", "v1"}));  // "another process"
  ASSERT_TRUE(held.has_value());
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto job = jm.Submit(Req("/w.bin", "w"), 0);
  ASSERT_TRUE(log.WaitState(job->job.id, "resolving"));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(jm.Cancel(job->job.id).ok());
  ASSERT_TRUE(log.WaitState(job->job.id, "cancelled"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

// The pre-flight answers what can be known up front; what the download meets later ends
// the job failed, with its reason and code.
TEST_F(JobManagerTest, FailuresCarryTheirReason) {
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto missing = jm.Submit(Req("/missing", "m"), 0);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.error().message().find("/missing"), std::string::npos);
  EXPECT_TRUE(jm.List().empty()) << "nothing queued";
  EXPECT_EQ(jm.Submit(Req("/x", "../bad"), 0).error().code(), Status::Code::kInvalidArgument);

  origin_.Put("/c.bin", {.content = RandomBytes(kMiB, 10)});
  auto req = Req("/c.bin", "c");
  req.checksum = *ParseChecksum("sha256:" + std::string(64, '0'));
  auto job = jm.Submit(req, 0);
  ASSERT_TRUE(job.has_value()) << job.error().ToString();
  ASSERT_TRUE(log.WaitState(job->job.id, "failed"));
  auto got = jm.Get(job->job.id);
  EXPECT_EQ(got->last.status.code(), Status::Code::kCorrupt) << got->last.status.ToString();
  jm.FlushRecordsForTest();
  EXPECT_EQ(svc_->StoreForTest().GetJob(job->job.id)->state, "failed");
}

TEST_F(JobManagerTest, InstalledModelsAreAlreadyExistsUpFrontUnlessForced) {
  origin_.Put("/i.bin", {.content = RandomBytes(kMiB, 11)});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto first = jm.Submit(Req("/i.bin", "i"), 0);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(log.WaitState(first->job.id, "completed"));
  auto again = jm.Submit(Req("/i.bin", "i"), 0);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), Status::Code::kAlreadyExists);
  auto req = Req("/i.bin", "i");
  req.force = true;
  auto forced = jm.Submit(req, 0);
  ASSERT_TRUE(forced.has_value()) << forced.error().ToString();
  EXPECT_EQ(forced->job.plan.files, 1u);
  EXPECT_EQ(forced->job.plan.source, "url");
  ASSERT_TRUE(log.WaitState(forced->job.id, "completed"));
}

// Job records go through a writer thread: a registry held busy by another process (a
// long transaction, a gc) never stops the engine's loop, so bytes keep flowing.
TEST_F(JobManagerTest, ABusyRegistryDoesNotStallTheDownload) {
  std::string data = RandomBytes(28 * kMiB, 12);
  origin_.Put("/busy.bin", {.content = data, .rate = 4 * kMiB});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto req = Req("/busy.bin", "busy");
  req.options.max_connections = 1;  // the origin's rate is per connection
  auto job = jm.Submit(req, 0);
  ASSERT_TRUE(job.has_value());
  ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) { return e.bytes_done > kMiB; }));

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / "registry.sqlite").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(other);  // every other writer now waits
  auto held_at = std::chrono::steady_clock::now();
  uint64_t at_hold = 0;
  log.WaitFor(
      [&](const JobEvent& e) {
        at_hold = std::max(at_hold, e.bytes_done);
        return false;
      },
      std::chrono::seconds(0));
  // 18 MiB at 4 MiB/s: the lock is held for at least 4.5 s while they arrive.
  bool flowed = log.WaitFor([&](const JobEvent& e) { return e.bytes_done >= at_hold + 18 * kMiB; },
                            std::chrono::seconds(12));
  auto held = std::chrono::steady_clock::now() - held_at;
  sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_TRUE(flowed) << "bytes stopped while the registry was busy";
  EXPECT_GE(held, std::chrono::milliseconds(4000));
  ASSERT_TRUE(log.WaitState(job->job.id, "completed"));
  EXPECT_EQ(FileSha256(jm.Get(job->job.id)->result->path / "busy.bin"), Sha256Hex(data));
  jm.FlushRecordsForTest();
  EXPECT_EQ(svc_->StoreForTest().GetJob(job->job.id)->state, "completed");
}

// A job's thread is joined once the job ends: a server that ran many jobs keeps a flat
// thread count.
TEST_F(JobManagerTest, FinishedJobThreadsAreReaped) {
  auto threads = [] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& t : fs::directory_iterator("/proc/self/task")) ++n;
    return n;
  };
  origin_.Put("/small.bin", {.content = RandomBytes(4096, 13)});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  size_t most = 0, before = 0;
  for (int i = 0; i < 120; ++i) {
    auto job = jm.Submit(Req("/small.bin", "small-" + std::to_string(i)), 0);
    ASSERT_TRUE(job.has_value()) << job.error().ToString();
    ASSERT_TRUE(log.WaitState(job->job.id, "completed"));
    if (i == 4) before = threads();
    if (i > 4) most = std::max(most, threads());
  }
  EXPECT_LE(most, before + 3) << "threads grow with the number of jobs run";
}

}  // namespace
}  // namespace modeld::testing

namespace modeld::testing {
namespace {

TEST_F(JobManagerTest, QueuePositionsFollowPriorityThenAge) {
  origin_.Put("/run", {.content = RandomBytes(16 * kMiB, 20), .rate = kMiB});
  for (const char* p : {"/a", "/b", "/c"}) origin_.Put(p, {.content = RandomBytes(kMiB, 21)});
  service::JobManager jm(*svc_, 1);
  EXPECT_EQ(jm.max_concurrent(), 1);
  BusLog log(jm.events());
  auto running = jm.Submit(Req("/run", "run"), 0);
  ASSERT_TRUE(log.WaitState(running->job.id, "downloading"));
  auto low = jm.Submit(Req("/a", "low"), 0);
  auto high = jm.Submit(Req("/b", "high"), 5);
  auto later = jm.Submit(Req("/c", "later"), 0);
  std::map<std::string, int> place;
  for (const auto& j : jm.List()) place[j.request.ref.name] = j.queue_position;
  EXPECT_EQ(place["run"], 0) << "running: not waiting";
  EXPECT_EQ(place["high"], 1);
  EXPECT_EQ(place["low"], 2);
  EXPECT_EQ(place["later"], 3);
  EXPECT_EQ(jm.Get(later->job.id)->queue_position, 3);
  ASSERT_TRUE(jm.Pause(high->job.id).ok());
  EXPECT_EQ(jm.Get(low->job.id)->queue_position, 1) << "a paused job leaves the queue";
  EXPECT_EQ(jm.Get(high->job.id)->queue_position, 0);
  ASSERT_TRUE(jm.Cancel(running->job.id).ok());
}

// Runs |req| until some bytes are in, pauses it, and makes the origin answer 503 from then
// on: resumed, the job fails (its retries run out within a second) with its partial kept.
service::Job FailWithAPartial(TestOrigin& origin, service::JobManager& jm, BusLog& log,
                              service::PullRequest req) {
  req.options.retry_for = std::chrono::seconds(1);
  auto job = jm.Submit(req, 0);
  EXPECT_TRUE(job.has_value());
  const std::string id = job->job.id;
  EXPECT_TRUE(
      log.WaitFor([&](const JobEvent& e) { return e.job_id == id && e.bytes_done > kMiB; }));
  EXPECT_TRUE(jm.Pause(id).ok());
  EXPECT_TRUE(log.WaitState(id, "paused"));
  std::string path = req.url.substr(req.url.rfind('/'));
  origin.Update(path, [](FileSpec& f) {
    f.rate = 0;
    f.fail_status = 503;
    f.fail_times = -1;
  });
  EXPECT_TRUE(jm.Resume(id).ok());
  EXPECT_TRUE(log.WaitState(id, "failed"));
  return *jm.Get(id);
}

TEST_F(JobManagerTest, RetryQueuesAFailedJobAgainAndResumesItsPartial) {
  std::string data = RandomBytes(16 * kMiB, 22);
  origin_.Put("/flaky", {.content = data, .rate = 2 * kMiB});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  service::Job failed = FailWithAPartial(origin_, jm, log, Req("/flaky", "flaky"));
  ASSERT_EQ(failed.last.state, service::JobState::kFailed);
  EXPECT_EQ(jm.Retry("dwnld_nope").code(), Status::Code::kNotFound);
  ASSERT_GT(failed.last.bytes_done, kMiB);
  uint64_t before = origin_.BodyBytes("/flaky");
  origin_.Update("/flaky", [](FileSpec& f) { f.fail_times = 0; });
  ASSERT_TRUE(jm.Retry(failed.id).ok());
  EXPECT_EQ(jm.Retry(failed.id).code(), Status::Code::kFailedPrecondition) << "not failed now";
  ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) {
    return e.job_id == failed.id && e.state == service::JobState::kCompleted;
  }));
  auto done = jm.Get(failed.id);
  ASSERT_TRUE(done->result.has_value());
  EXPECT_TRUE(done->last.status.ok());
  EXPECT_EQ(FileSha256(done->result->path / "flaky"), Sha256Hex(data));
  // Resumed: what the retry fetched is what the failed run had not (and a little more:
  // the pieces in flight when it was paused).
  EXPECT_LE(origin_.BodyBytes("/flaky") - before, data.size() - failed.last.bytes_done + kMiB)
      << "the partial was resumed";
}

TEST_F(JobManagerTest, RetryAfterACancelAndRemovingAFailedJobDeletesItsPartial) {
  std::string data = RandomBytes(16 * kMiB, 23);
  origin_.Put("/slow", {.content = data, .rate = 2 * kMiB});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto job = jm.Submit(Req("/slow", "slow"), 0);
  ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) { return e.bytes_done > kMiB; }));
  EXPECT_EQ(jm.Retry(job->job.id).code(), Status::Code::kFailedPrecondition) << "running";
  ASSERT_TRUE(jm.Cancel(job->job.id).ok());
  ASSERT_TRUE(log.WaitState(job->job.id, "cancelled"));
  origin_.Update("/slow", [](FileSpec& f) { f.rate = 0; });
  ASSERT_TRUE(jm.Retry(job->job.id).ok());
  ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) {
    return e.job_id == job->job.id && e.state == service::JobState::kCompleted;
  }));
  EXPECT_EQ(FileSha256(jm.Get(job->job.id)->result->path / "slow"), Sha256Hex(data));

  origin_.Put("/other", {.content = RandomBytes(16 * kMiB, 24), .rate = 2 * kMiB});
  service::Job failed = FailWithAPartial(origin_, jm, log, Req("/other", "other"));
  fs::path partial = svc_->StoreForTest().PartialDir(service::PullKey({"other", "v1"}));
  EXPECT_TRUE(fs::exists(partial)) << "kept for a retry";
  // gc on the server keeps what its jobs will resume, whatever its age.
  service::CleanupOptions keep;
  keep.keep_partials_of = jm.PartialsKept();
  ASSERT_EQ(keep.keep_partials_of.size(), 1u);
  auto gc = svc_->Gc(std::chrono::seconds(0), keep);
  ASSERT_TRUE(gc.has_value());
  EXPECT_EQ(gc->partials_removed, 0u);
  EXPECT_TRUE(fs::exists(partial));
  ASSERT_TRUE(jm.Remove(failed.id).ok());
  EXPECT_FALSE(fs::exists(partial)) << "no retry will come";
  EXPECT_EQ(jm.Get(failed.id).error().code(), Status::Code::kNotFound);
}

// A job's own rate limit holds it, changes while it runs, and is kept in its record.
TEST_F(JobManagerTest, AJobsRateLimitChangesLiveAndSurvivesARestart) {
  std::string data = RandomBytes(24 * kMiB, 21);
  origin_.Put("/r.bin", {.content = data});
  std::string id;
  {
    service::JobManager jm(*svc_, 3);
    BusLog log(jm.events());
    auto req = Req("/r.bin", "r");
    req.options.max_rate = 1 * kMiB;
    auto start = std::chrono::steady_clock::now();
    auto job = jm.Submit(req, 0);
    ASSERT_TRUE(job.has_value());
    id = job->job.id;
    ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) { return e.bytes_done >= 2 * kMiB; }));
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1700))
        << "2 MiB at 1 MiB/s";
    ASSERT_TRUE(jm.SetMaxRate(id, 2 * kMiB).ok());
    EXPECT_EQ(jm.Get(id)->request.options.max_rate, 2 * kMiB);
    jm.FlushRecordsForTest();
  }  // the server goes away mid-download
  svc_.reset();
  Open();
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  ASSERT_EQ(*jm.Recover(), 1);
  EXPECT_EQ(jm.Get(id)->request.options.max_rate, 2 * kMiB) << "kept in the record";
  ASSERT_TRUE(log.WaitFor([&](const JobEvent& e) { return e.job_id == id && e.bytes_done > 0; }));
  auto lifted = std::chrono::steady_clock::now();
  ASSERT_TRUE(jm.SetMaxRate(id, 0).ok());  // off: the rest at full speed
  ASSERT_TRUE(log.WaitState(id, "completed"));
  EXPECT_LT(std::chrono::steady_clock::now() - lifted, std::chrono::seconds(6) * kSanitizerSlowdown)
      << "about 20 MiB left: 10 s at 2 MiB/s";
  EXPECT_EQ(FileSha256(jm.Get(id)->result->path / "r.bin"), Sha256Hex(data));
  EXPECT_EQ(jm.SetMaxRate(id, 1).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(jm.SetMaxRate("dwnld_000000000000", 1).code(), Status::Code::kNotFound);
}

// A request that joins a running job with a rate limit of its own sets the job's.
TEST_F(JobManagerTest, JoiningWithAMaxRateSetsTheJobs) {
  origin_.Put("/j.bin", {.content = RandomBytes(16 * kMiB, 22), .rate = 1 * kMiB});
  service::JobManager jm(*svc_, 3);
  BusLog log(jm.events());
  auto a = jm.Submit(Req("/j.bin", "j"), 0);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->job.request.options.max_rate, 0u);
  auto limited = Req("/j.bin", "j");
  limited.options.max_rate = 512 * 1024;
  auto b = jm.Submit(limited, 0);
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->joined);
  EXPECT_EQ(jm.Get(a->job.id)->request.options.max_rate, 512u * 1024);
  ASSERT_TRUE(jm.Cancel(a->job.id).ok());
  // A cancelled job takes a limit for its retry; a completed one does not.
  EXPECT_TRUE(jm.SetMaxRate(a->job.id, 2 * kMiB).ok());
}

}  // namespace
}  // namespace modeld::testing
