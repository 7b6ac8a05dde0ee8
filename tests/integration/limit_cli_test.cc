// `modeld limit` and `modeld serve --max-rate` (issue 17): the real binary, a real server,
// the test origin. The engine's side of the limits is tests/integration/engine_pacing_test.cc.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "http_client.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

using nlohmann::json;

class LimitCliTest : public ::testing::Test {
 protected:
  struct Out {
    int rc;
    std::string out, err;
  };
  Out Limit(std::vector<std::string> args, const std::string& base) {
    args.insert(args.begin(), "limit");
    Out o;
    o.rc = RunModeldEnv(args, dir_.path(), {"MODELD_URL=" + base}, &o.out, &o.err);
    return o;
  }
  ScratchDir dir_;
  TestOrigin origin_;
};

TEST_F(LimitCliTest, ShowsAndChangesARunningServersLimits) {
  ServeChild serve(dir_ / "data", {"--max-rate", "3M", "--max-connections-per-host", "6"});
  ASSERT_NE(serve.port(), 0) << serve.Log();
  auto shown = Limit({"--json"}, serve.base());
  ASSERT_EQ(shown.rc, 0) << shown.err;
  auto j = json::parse(shown.out);
  EXPECT_EQ(j["max_rate"], 3 * kMiB) << "--max-rate 3M is 3 MiB/s";
  EXPECT_EQ(j["max_connections_per_host"], 6);

  auto set = Limit({"20M", "--per-host", "8"}, serve.base());
  ASSERT_EQ(set.rc, 0) << set.err;
  EXPECT_NE(set.out.find("rate: 20.0 MiB/s"), std::string::npos) << set.out;
  EXPECT_NE(set.out.find("connections per host: 8"), std::string::npos) << set.out;
  EXPECT_EQ(json::parse(HttpCall("GET", serve.base() + "/settings").body)["max_rate"], 20 * kMiB);
  EXPECT_EQ(Limit({"off"}, serve.base()).rc, 0);
  EXPECT_EQ(json::parse(HttpCall("GET", serve.base() + "/settings").body)["max_rate"], 0);

  // One download's own cap, while it runs.
  std::string data = RandomBytes(32 * kMiB, 61);
  origin_.Put("/big.bin", {.content = data, .rate = 1 * kMiB});
  auto started =
      HttpCall("POST", serve.base() + "/model-download",
               json{{"model_name", "big"}, {"download_url", origin_.Url("/big.bin")}}.dump(),
               {"Content-Type: application/json"});
  ASSERT_EQ(started.status, 200) << started.body;
  std::string id = json::parse(started.body)["download_id"];
  auto job = Limit({"512K", "--job", id}, serve.base());
  ASSERT_EQ(job.rc, 0) << job.err;
  EXPECT_NE(job.out.find(id + ": 512.0 KiB/s"), std::string::npos) << job.out;
  auto progress =
      json::parse(HttpCall("GET", serve.base() + "/model-download/" + id + "/progress").body);
  EXPECT_EQ(progress["max_rate"], 512 * 1024);
  EXPECT_EQ(HttpCall("DELETE", serve.base() + "/model-download/" + id).status, 200);

  // What it refuses, and why.
  auto bad = Limit({"fast"}, serve.base());
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("10M, 512K"), std::string::npos) << bad.err;
  auto unknown = Limit({"1M", "--job", "dwnld_000000000000"}, serve.base());
  EXPECT_EQ(unknown.rc, 4) << unknown.err;
  auto both = Limit({"1M", "--job", id, "--per-host", "2"}, serve.base());
  EXPECT_EQ(both.rc, 2) << both.err;
}

// A download of its own (-o, and into the store), held to --max-rate.
TEST_F(LimitCliTest, PullMaxRateHoldsADownloadOfItsOwn) {
  std::string data = RandomBytes(4 * kMiB, 62);
  origin_.Put("/f.bin", {.content = data});
  for (bool to_file : {true, false}) {
    std::vector<std::string> args = {"--data-dir", (dir_ / "data").string(), "pull",       "-q",
                                     "--local",    origin_.Url("/f.bin"),    "--max-rate", "2M",
                                     "--sha256",   Sha256Hex(data)};
    if (to_file) {
      args.insert(args.end(), {"-o", (dir_ / "f.bin").string()});
    } else {
      args.insert(args.end(), {"--name", "f:v1"});
    }
    auto start = std::chrono::steady_clock::now();
    std::string out, err;
    ASSERT_EQ(RunModeldEnv(args, dir_.path(), {}, &out, &err), 0) << err;
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1800))
        << (to_file ? "-o" : "the store") << ": 4 MiB at 2 MiB/s";
  }
}

TEST_F(LimitCliTest, WithoutAServerItSaysSo) {
  auto r = Limit({"10M"}, "http://127.0.0.1:1");
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("no modeld server answers"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--max-rate"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace modeld::testing
