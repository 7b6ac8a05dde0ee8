// The generic API against what an attacker or a broken upstream sends: handlers that
// must not wait on the network on an I/O thread, upstream headers that used to throw,
// and jobs removed through the API.
#include <gtest/gtest.h>

#include <future>

#include "origin.h"
#include "server_harness.h"

namespace modeld::testing {
namespace {

using nlohmann::json;

class ServerSafetyTest : public ServerHarness {
 protected:
  TestOrigin origin_;
};

// Five POSTs whose upstream never answers used to hold every request worker in its 15 s
// probe, so a sixth, ordinary POST waited 14 s.
TEST_F(ServerSafetyTest, SilentUpstreamsDoNotHoldUpOtherRequests) {
  // Shared with the origin's handler threads, which may outlive this test's body.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    int waiting = 0;    // GUARDED_BY(mu)
    bool open = false;  // GUARDED_BY(mu)
    void Open() {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
      cv.notify_all();
    }
  };
  auto g = std::make_shared<Gate>();
  struct OpenAtExit {  // even when an assertion ends the test early
    std::shared_ptr<Gate> g;
    ~OpenAtExit() { g->Open(); }
  } open_at_exit{g};
  origin_.Handle("/silent/", [g](const std::string&, const std::string&,
                                 const std::map<std::string, std::string>&) {
    std::unique_lock<std::mutex> lock(g->mu);
    ++g->waiting;
    g->cv.notify_all();
    g->cv.wait(lock, [&] { return g->open; });
    return SimpleResponse{503, {}, ""};
  });
  origin_.Put("/ok.bin", {.content = RandomBytes(kMiB, 41)});
  std::vector<std::future<std::pair<long, json>>> silent;
  for (int i = 0; i < 6; ++i) {
    silent.push_back(std::async(std::launch::async, [this, i] {
      return Post({{"model_name", "silent" + std::to_string(i)},
                   {"download_url", origin_.Url("/silent/" + std::to_string(i))}});
    }));
  }
  {
    std::unique_lock<std::mutex> lock(g->mu);
    ASSERT_TRUE(g->cv.wait_for(lock, std::chrono::seconds(30), [&] { return g->waiting >= 6; }));
  }
  auto start = std::chrono::steady_clock::now();
  auto [code, j] = Post({{"model_name", "ok"}, {"download_url", origin_.Url("/ok.bin")}});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(code, 200) << j.dump();
  EXPECT_LT(took, std::chrono::seconds(2)) << "an ordinary POST waited behind silent upstreams";
  EXPECT_EQ(Get("/healthz").first, 200);
  g->Open();
  for (auto& f : silent) f.get();
}

// "filename*=UTF-8''%zz" threw out of std::stoi and terminated the server.
TEST_F(ServerSafetyTest, AHostileContentDispositionFailsNothing) {
  for (const char* cd :
       {"attachment; filename*=UTF-8''%zz", "attachment; filename*=UTF-8''x%G1.bin",
        "attachment; filename*=UTF-8''%", "attachment; filename=\"../../evil.bin\""}) {
    origin_.Put("/cd", {.content = RandomBytes(1000, 42), .content_disposition = cd});
    auto [code, j] =
        Post({{"model_name", "cd"}, {"download_url", origin_.Url("/cd")}, {"force_download", true}},
             "?wait=true");
    EXPECT_EQ(code, 200) << cd << " -> " << j.dump();
    EXPECT_EQ(Get("/healthz").first, 200) << cd;
  }
}

TEST_F(ServerSafetyTest, JobsAreRemovedThroughTheApi) {
  origin_.Put("/slow.bin", {.content = RandomBytes(16 * kMiB, 43), .rate = 2 * kMiB});
  auto [code, j] = Post({{"model_name", "slow"}, {"download_url", origin_.Url("/slow.bin")}});
  ASSERT_EQ(code, 200);
  std::string id = j["download_id"];
  ASSERT_TRUE(WaitState(id, [](const std::string& s) { return s == "downloading"; }));
  auto r = HttpCall("DELETE", base_ + "/model-download/" + id);
  EXPECT_EQ(r.status, 200) << r.body;
  // Cancelled, then forgotten: gone from the list, the registry and the disk.
  // The job stops on the engine's next turn, and its partial download is removed just
  // after it leaves the list (outside the manager's lock): both are waited for.
  auto partial = models_->StoreForTest().PartialDir(service::PullKey({"slow", "latest"}));
  bool gone = false;
  for (int i = 0; i < 5000 && !gone; ++i) {
    gone = Get("/model-download/" + id + "/progress").first == 404 &&
           !std::filesystem::exists(partial);
  }
  EXPECT_TRUE(gone);
  EXPECT_EQ(Get("/model-download").second["downloads"].size(), 0u);
  EXPECT_EQ(HttpCall("DELETE", base_ + "/model-download/" + id).status, 404);
  auto [code2, done] =
      Post({{"model_name", "x"}, {"download_url", origin_.Url("/slow.bin")}}, "?wait=true");
  ASSERT_EQ(code2, 200);
  std::string done_id = done["download_id"];
  EXPECT_EQ(HttpCall("DELETE", base_ + "/model-download/" + done_id).status, 200);
  jobs_->FlushRecordsForTest();
  auto record = models_->StoreForTest().GetJob(done_id);
  ASSERT_FALSE(record.has_value()) << "the record is deleted too";
  EXPECT_EQ(record.error().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace modeld::testing
