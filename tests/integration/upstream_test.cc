// Upstreams that modeld must not trust (issue 9): addresses it must not connect to (SSRF),
// encoded bodies, redirect loops, trickling servers, hostile listings, exceptions from
// outside data, and a download waiting behind another of the same URL that must stay
// cancellable. Each test names what it would have caught.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "engine/engine.h"
#include "engine_harness.h"
#include "hub_mimic.h"
#include "net/fetch.h"
#include "net/probe.h"
#include "net/upstream_policy.h"
#include "origin.h"
#include "service/job_manager.h"
#include "sources/huggingface.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using engine::Stage;
using engine::TransferEvent;
using net::ScopedUpstreamPolicyForTest;
using net::UpstreamPolicy;

class UpstreamTest : public ::testing::Test {
 protected:
  engine::DownloadRequest Request(const std::string& url, const std::string& content) {
    engine::DownloadRequest req;
    req.url = url;
    req.dest = dir_ / "model.bin";
    req.checksum = Checksum{HashAlgorithm::kSha256, Sha256Hex(content)};
    req.options.stall_timeout = std::chrono::seconds(2);
    req.options.connect_timeout = std::chrono::seconds(5);
    req.options.max_backoff = std::chrono::milliseconds(200);
    return req;
  }
  static UpstreamPolicy Allowing(const std::string& entry) {
    UpstreamPolicy p;
    EXPECT_TRUE(p.Allow(entry).ok()) << entry;
    return p;
  }

  TestOrigin origin_;
  ScratchDir dir_;
};

// --- SSRF: the default policy refuses private and local addresses ---------------------

TEST_F(UpstreamTest, DefaultPolicyRefusesALoopbackOriginWithAClearError) {
  ScopedUpstreamPolicyForTest policy{UpstreamPolicy()};
  std::string data = RandomBytes(100000, 1);
  origin_.Put("/m.bin", {.content = data});
  std::string url = origin_.Url("/m.bin");

  auto ev = Download(Request(url, data));
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kPermissionDenied) << ev.status.ToString();
  const std::string& msg = ev.status.message();
  EXPECT_NE(msg.find("refused to connect to 127.0.0.1 (loopback) for " + url), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("--allow-private-upstreams"), std::string::npos) << msg;
  EXPECT_TRUE(origin_.Requests().empty()) << "no request may reach the origin";
  EXPECT_FALSE(fs::exists(dir_ / "model.bin"));

  // The probe (resolution of a download_url) and API fetches (Hub, catalogs) too.
  auto probe = net::Probe(url, {}, true, std::chrono::seconds(5));
  ASSERT_FALSE(probe.has_value());
  EXPECT_EQ(probe.error().code(), Status::Code::kPermissionDenied) << probe.error().ToString();
  auto fetch = net::Fetch(url, {}, std::chrono::seconds(5));
  ASSERT_FALSE(fetch.has_value());
  EXPECT_EQ(fetch.error().code(), Status::Code::kPermissionDenied) << fetch.error().ToString();
  EXPECT_TRUE(origin_.Requests().empty());
}

// The check is on the address each connection is opened to, so a redirect from an allowed
// host to a loopback one is refused at the hop.
TEST_F(UpstreamTest, RedirectFromAnAllowedHostToLoopbackIsRefused) {
  TestOrigin inner;
  std::string data = RandomBytes(100000, 2);
  inner.Put("/secret", {.content = data});
  origin_.Put("/m", {.redirect_to = inner.Url("/secret")});
  // The first hop is allowed by its host name (localhost); the hop names 127.0.0.1.
  ScopedUpstreamPolicyForTest policy{Allowing("localhost")};
  std::string url = "http://localhost:" + std::to_string(origin_.port()) + "/m";

  auto ev = Download(Request(url, data));
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kPermissionDenied) << ev.status.ToString();
  EXPECT_NE(ev.status.message().find("127.0.0.1 (loopback) for " + inner.Url("/secret")),
            std::string::npos)
      << ev.status.message();
  EXPECT_FALSE(origin_.Requests("/m").empty()) << "the allowed first hop was asked";
  EXPECT_TRUE(inner.Requests().empty()) << "the refused hop never saw a request";

  auto probe = net::Probe(url, {}, true, std::chrono::seconds(5));
  ASSERT_FALSE(probe.has_value());
  EXPECT_EQ(probe.error().code(), Status::Code::kPermissionDenied) << probe.error().ToString();
  EXPECT_TRUE(inner.Requests().empty());
}

TEST_F(UpstreamTest, AllowListLetsASpecificCidrThrough) {
  std::string data = RandomBytes(3 * kMiB, 3);
  origin_.Put("/m.bin", {.content = data});
  {
    ScopedUpstreamPolicyForTest other{Allowing("10.0.0.0/8")};  // another network: still refused
    auto ev = Download(Request(origin_.Url("/m.bin"), data));
    ASSERT_EQ(ev.stage, Stage::kFailed);
    EXPECT_EQ(ev.status.code(), Status::Code::kPermissionDenied);
  }
  ScopedUpstreamPolicyForTest policy{Allowing("127.0.0.0/8")};
  auto ev = Download(Request(origin_.Url("/m.bin"), data));
  ASSERT_EQ(ev.stage, Stage::kCompleted) << ev.status.ToString();
  EXPECT_EQ(FileSha256(dir_ / "model.bin"), Sha256Hex(data));
}

// --- Redirect loops ------------------------------------------------------------------

// A loop used to end as "HTTP 302 (unexpected)", an Internal error, in the engine, and
// as that or a retried generic message in the probe.
TEST_F(UpstreamTest, RedirectLoopSaysTooManyRedirects) {
  origin_.Put("/a", {.redirect_to = origin_.Url("/b")});
  origin_.Put("/b", {.redirect_to = origin_.Url("/a")});
  std::string url = origin_.Url("/a");
  auto ev = Download(Request(url, "x"));
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_NE(ev.status.message().find("too many redirects"), std::string::npos)
      << ev.status.ToString();
  EXPECT_LE(origin_.Requests().size(), 12u) << "a loop is not retried";

  auto probe = net::Probe(url, {}, true, std::chrono::seconds(5));
  ASSERT_FALSE(probe.has_value());
  EXPECT_NE(probe.error().message().find("too many redirects"), std::string::npos)
      << probe.error().ToString();
  auto fetch = net::Fetch(url, {}, std::chrono::seconds(5), /*follow=*/true);
  ASSERT_FALSE(fetch.has_value());
  EXPECT_NE(fetch.error().message().find("too many redirects"), std::string::npos)
      << fetch.error().ToString();
}

// --- Content-Encoding ------------------------------------------------------------------

// modeld never asks for an encoding; gzip bytes installed as the file would pass no check
// when no digest is known.
TEST_F(UpstreamTest, EncodedBodyIsRefusedNotInstalled) {
  std::string data = RandomBytes(200000, 4);
  origin_.Put("/m.bin", {.content = data, .content_encoding = "gzip"});
  std::string url = origin_.Url("/m.bin");
  auto req = Request(url, data);
  req.checksum.reset();  // nothing else would catch it
  auto ev = Download(req);
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kInvalidArgument) << ev.status.ToString();
  EXPECT_NE(ev.status.message().find("Content-Encoding: gzip"), std::string::npos)
      << ev.status.message();
  EXPECT_NE(ev.status.message().find(url), std::string::npos) << ev.status.message();
  EXPECT_FALSE(fs::exists(dir_ / "model.bin"));
  EXPECT_EQ(origin_.Requests("/m.bin").size(), 1u) << "not retried";

  auto probe = net::Probe(url, {}, true, std::chrono::seconds(5));
  ASSERT_FALSE(probe.has_value());
  EXPECT_EQ(probe.error().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(probe.error().message().find("Content-Encoding: gzip"), std::string::npos)
      << probe.error().ToString();

  // "identity" is the file's own bytes.
  origin_.Update("/m.bin", [](FileSpec& f) { f.content_encoding = "identity"; });
  ev = Download(Request(url, data));
  EXPECT_EQ(ev.stage, Stage::kCompleted) << ev.status.ToString();
}

// --- Trickling upstreams ---------------------------------------------------------------

// One byte per connection, then the connection drops: each reconnect "made progress", so
// the retry budget never ran out and the download held its slot forever.
TEST_F(UpstreamTest, TricklingUpstreamFailsAfterTheProgressTimeout) {
  std::string data = RandomBytes(2 * kMiB, 5);
  origin_.Put("/t.bin", {.content = data, .drop_after = 1, .drop_times = -1});
  auto req = Request(origin_.Url("/t.bin"), data);
  req.options.max_backoff = std::chrono::milliseconds(50);
  req.options.progress_timeout = std::chrono::seconds(2);
  engine::Engine eng;
  EventLog log;
  auto start = std::chrono::steady_clock::now();
  eng.Submit(req, log.Callback());
  auto ev = log.WaitTerminal(std::chrono::seconds(30));
  ASSERT_EQ(ev.stage, Stage::kFailed) << "still running after 30 s";
  EXPECT_EQ(ev.status.code(), Status::Code::kUnavailable) << ev.status.ToString();
  EXPECT_NE(ev.status.message().find("no progress"), std::string::npos) << ev.status.message();
  EXPECT_NE(ev.status.message().find(" 2 s"), std::string::npos) << ev.status.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_GT(origin_.Requests("/t.bin").size(), 3u) << "it did reconnect meanwhile";
  EXPECT_FALSE(fs::exists(dir_ / "model.bin"));
}

// The generic API's options.timeout bounds time without progress: it is persisted with
// the job, so a recovered job keeps it.
TEST(JobRequestJsonTest, ProgressTimeoutIsPersisted) {
  service::PullRequest r;
  r.ref = {"m", "v1"};
  r.options.progress_timeout = std::chrono::seconds(7);
  auto j = service::PullRequestToJson(r, 0);
  EXPECT_EQ(j["options"]["progress_timeout_ms"], 7000);
  auto back = service::PullRequestFromJson(j, nullptr);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->options.progress_timeout, std::chrono::seconds(7));
  j["options"].erase("progress_timeout_ms");  // a job stored by an older modeld
  back = service::PullRequestFromJson(j, nullptr);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->options.progress_timeout, engine::DownloadOptions{}.progress_timeout);
}

// --- Exceptions never leave the engine's threads ---------------------------------------

// An exception while handling one transfer (here from the event callback, as a bug in a
// caller would throw) fails that transfer with Internal; the engine and its other
// transfers carry on. It used to terminate the process.
TEST_F(UpstreamTest, AnExceptionFailsOneTransferNotTheProcess) {
  std::string data = RandomBytes(3 * kMiB, 6);
  origin_.Put("/a.bin", {.content = data});
  origin_.Put("/b.bin", {.content = data});
  engine::Engine eng;
  EventLog log;
  auto cb = log.Callback();
  std::atomic<bool> thrown{false};
  eng.Submit(Request(origin_.Url("/a.bin"), data), [&](const TransferEvent& ev) {
    cb(ev);
    if (ev.stage == Stage::kDownloading && !thrown.exchange(true)) {
      throw std::runtime_error("boom from the callback");
    }
  });
  auto ev = log.WaitTerminal();
  ASSERT_EQ(ev.stage, Stage::kFailed);
  EXPECT_EQ(ev.status.code(), Status::Code::kInternal) << ev.status.ToString();
  EXPECT_NE(ev.status.message().find("boom from the callback"), std::string::npos);

  auto req = Request(origin_.Url("/b.bin"), data);
  req.dest = dir_ / "b.bin";
  EventLog log2;
  eng.Submit(req, log2.Callback());
  ev = log2.WaitTerminal();
  EXPECT_EQ(ev.stage, Stage::kCompleted) << ev.status.ToString();
}

// --- A download waiting behind another of the same URL ---------------------------------

// Two pulls of different models for one URL: the second waits for the first's lock on
// the URL. Cancelling it must not wait for the first to finish (it sat in flock).
TEST_F(UpstreamTest, JobWaitingForAnotherDownloadOfTheSameUrlCancelsPromptly) {
  // One stream (no ranges) at 2 MiB/s: the first pull holds the URL for 16 s.
  origin_.Put("/shared.bin",
              {.content = RandomBytes(32 * kMiB, 7), .ranges = false, .rate = 2 * kMiB});
  auto st = OpenTestStore(dir_.path());
  ASSERT_TRUE(st);
  service::ModelService svc(std::move(st));
  service::JobManager jm(svc, 3);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<service::JobEvent> events;
  auto sub = jm.events().Subscribe([&](const service::JobEvent& ev) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(ev);
    cv.notify_all();
  });
  auto wait_for = [&](const std::function<bool(const service::JobEvent&)>& pred) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(60),
                       [&] { return std::any_of(events.begin(), events.end(), pred); });
  };
  auto req = [&](const std::string& name) {
    service::PullRequest r;
    r.url = origin_.Url("/shared.bin");
    r.ref = {name, "v1"};
    return r;
  };
  auto first = jm.Submit(req("first"), 0);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(wait_for([&](const service::JobEvent& e) {
    return e.job_id == first->job.id && e.bytes_done > kMiB;
  }));
  auto second = jm.Submit(req("second"), 0);
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(wait_for([&](const service::JobEvent& e) {
    return e.job_id == second->job.id && e.state == service::JobState::kResolving;
  }));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(jm.Cancel(second->job.id).ok());
  ASSERT_TRUE(wait_for(
      [&](const service::JobEvent& e) { return e.job_id == second->job.id && e.terminal(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(jm.Get(second->job.id)->last.state, service::JobState::kCancelled);
  EXPECT_EQ(jm.Get(first->job.id)->last.state, service::JobState::kDownloading)
      << "the first carries on";
  ASSERT_TRUE(jm.Cancel(first->job.id).ok());
  jm.events().Unsubscribe(sub);
}

// --- Hostile listings ------------------------------------------------------------------

const std::string kUpstreamCommit = "0123456789abcdef0123456789abcdef01234567";

// A hostile mirror's tree listing that writes into .git (hooks run code) is refused at
// resolution, naming the path. It used to be accepted.
TEST(HostileListingTest, HubTreeWithAGitPathFailsResolution) {
  TestOrigin api;
  HubMimic hub(api);
  hub.AddRepo("org/evil", kUpstreamCommit, {"main"},
              {{"config.json", "{}", false}, {".git/config", "[core]\n", false}});
  hub.AddRepo("org/evil2", kUpstreamCommit, {"main"},
              {{"sub/.GIT/hooks/post-checkout", "#!/bin/sh\n", false}});
  sources::HubConfig config;
  config.endpoint = api.Url("");
  for (const char* repo : {"org/evil", "org/evil2"}) {
    auto plan = sources::ResolveHub(repo, "main", {}, config);
    ASSERT_FALSE(plan.has_value()) << repo;
    EXPECT_EQ(plan.error().code(), Status::Code::kCorrupt) << plan.error().ToString();
    EXPECT_NE(plan.error().message().find(".git"), std::string::npos) << plan.error().message();
  }
  api.Stop();
}

// Mistyped fields in a Hub listing are a clean error: json::value() used to throw out of
// ResolveHub (and out of the thread resolving it).
TEST(HostileListingTest, MistypedHubListingIsACleanError) {
  TestOrigin api;
  std::string tree;
  api.Handle("/api/models/org/x/revision/", [&](const std::string&, const std::string&,
                                                const std::map<std::string, std::string>&) {
    return SimpleResponse{
        200, {{"Content-Type", "application/json"}}, "{\"sha\":\"" + kUpstreamCommit + "\"}"};
  });
  api.Handle("/api/models/org/x/tree/", [&](const std::string&, const std::string&,
                                            const std::map<std::string, std::string>&) {
    return SimpleResponse{200, {{"Content-Type", "application/json"}}, tree};
  });
  sources::HubConfig config;
  config.endpoint = api.Url("");
  for (const char* listing :
       {R"([{"type":"file","path":5,"size":1,"oid":"a"}])",
        R"([{"type":"file","path":"a","size":"1"}])", R"([{"type":"file","path":"a","size":-1}])",
        R"([{"type":7,"path":"a"},{"type":"file","path":"a","oid":[]}])",
        R"([{"type":"file","path":"a","lfs":{"oid":1,"size":2}}])",
        R"([{"type":"file","path":"a","lfs":{"oid":"x","size":1.5}}])"}) {
    tree = listing;
    Result<sources::HubPlan> plan = Status::Internal("not run");
    ASSERT_NO_THROW(plan = sources::ResolveHub("org/x", "main", {}, config)) << listing;
    ASSERT_FALSE(plan.has_value()) << listing;
    EXPECT_EQ(plan.error().code(), Status::Code::kCorrupt)
        << listing << ": " << plan.error().ToString();
  }
  api.Stop();
}

}  // namespace
}  // namespace modeld::testing
