// What `modeld pull` does with what it is asked (issue 11), through the real binary
// against the test origin, the Hub mimic and `modeld serve` children: an installed model
// asked for again is success (its path on stdout), another URL or checksum under an
// installed name is pulled, `-o DIR/`, `hf://org/name/path/to/file`, Hub selections as
// models of their own, `--name` for Hub models, and when a running server gets the work.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine_harness.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr uint64_t kMiB = 1 << 20;
const std::string kCommit = "89abcdef0123456789abcdef0123456789abcdef";

class PullRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.AddRepo("org/tiny", kCommit, {"main", "v1.0"},
                 {{"config.json", kConfig, false},
                  {"tokenizer/vocab.txt", "a\nb\n", false},
                  {"model.safetensors", RandomBytes(300000, 1), true},
                  {"gguf/tiny-Q4_K_M.gguf", RandomBytes(200000, 2), true},
                  {"gguf/tiny-Q8_0.gguf", RandomBytes(150000, 3), true}});
  }
  void TearDown() override {
    // The mimic's handlers run on the origins' threads: stop those before it goes.
    api_.Stop();
    cdn_.Stop();
  }
  struct Out {
    int rc;
    std::string out, err;
    json j() const { return json::parse(out, nullptr, false); }
  };
  // `modeld --data-dir D args...` with the Hub mimic as HF_ENDPOINT and no server.
  Out Modeld(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), {"--data-dir", data_.string()});
    return ModeldNoDataDir(std::move(args), std::move(env));
  }
  Out ModeldNoDataDir(std::vector<std::string> args, std::vector<std::string> env = {}) {
    env.push_back("HF_ENDPOINT=" + api_.Url(""));
    if (std::none_of(env.begin(), env.end(),
                     [](const std::string& e) { return e.rfind("MODELD_URL=", 0) == 0; })) {
      env.push_back("MODELD_URL=http://127.0.0.1:1");  // no server unless a test says so
    }
    Out o;
    o.rc = RunModeldEnv(args, dir_.path(), env, &o.out, &o.err);
    return o;
  }
  fs::path ModelDir(const std::string& name, const std::string& version) const {
    return data_ / "models" / name / version;
  }
  // Bytes of body the origin sent for |path| so far.
  uint64_t Served(const std::string& path) { return origin_.BodyBytes(path); }

  const std::string kConfig = "{\"model_type\": \"llama\"}";
  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  TestOrigin origin_, api_, cdn_;
  HubMimic hub_{api_, &cdn_};
};

// ---------------------------------------------------------------------------------------
// 1. Asking for what is installed is success; asking for something else is a pull.

// The HTTP API answers as the CLI decides: the same request for an installed model is the
// seed's 409; another URL under that name is a download.
TEST_F(PullRequestsTest, TheHttpApiDecidesTheSame) {
  std::string a = RandomBytes(kMiB, 13), b = RandomBytes(kMiB, 14);
  origin_.Put("/a.bin", {.content = a});
  origin_.Put("/b.bin", {.content = b});
  ServeChild server(data_);
  ASSERT_GT(server.port(), 0) << server.Log();
  auto post = [&](const json& body) {
    auto r = HttpCall("POST", server.base() + "/model-download?wait=true", body.dump(),
                      {"Content-Type: application/json"}, nullptr, 120);
    return std::make_pair(r.status, json::parse(r.body, nullptr, false));
  };
  json req = {{"model_name", "w"}, {"version", "v1"}, {"download_url", origin_.Url("/a.bin")}};
  ASSERT_EQ(post(req).first, 200);
  auto [code, again] = post(req);
  EXPECT_EQ(code, 409) << again.dump();
  EXPECT_EQ(again["detail"],
            "Model 'w' version 'v1' already exists. Use force_download=true to "
            "override.");
  req["download_url"] = origin_.Url("/b.bin");
  auto [code2, other] = post(req);
  EXPECT_EQ(code2, 200) << other.dump();
  EXPECT_EQ(FileSha256(ModelDir("w", "v1") / "b.bin"), Sha256Hex(b));
  req["download_url"] = origin_.Url("/gone.bin");
  EXPECT_EQ(post(req).first, 404);
}

// A version being downloaded from one URL is not joined by a request for another: that
// is a conflict saying which job is in the way; by name alone it joins.
TEST_F(PullRequestsTest, AnotherUrlDoesNotJoinARunningDownloadOfTheVersion) {
  origin_.Put("/slow.bin", {.content = RandomBytes(8 * kMiB, 15), .rate = 256 * 1024});
  origin_.Put("/b.bin", {.content = RandomBytes(kMiB, 16)});
  ServeChild server(data_);
  auto post = [&](const json& body) {
    auto r = HttpCall("POST", server.base() + "/model-download", body.dump(),
                      {"Content-Type: application/json"});
    return std::make_pair(r.status, json::parse(r.body, nullptr, false));
  };
  auto [code, first] = post({{"model_name", "w"}, {"download_url", origin_.Url("/slow.bin")}});
  ASSERT_EQ(code, 200) << first.dump();
  std::string id = first["download_id"];
  auto [code2, other] = post({{"model_name", "w"}, {"download_url", origin_.Url("/b.bin")}});
  EXPECT_EQ(code2, 409) << other.dump();
  EXPECT_NE(other["detail"].get<std::string>().find(id), std::string::npos) << other.dump();
  auto [code3, same] = post({{"model_name", "w"}});
  EXPECT_EQ(code3, 200) << same.dump();
  EXPECT_EQ(same["download_id"], id) << "by name alone: joined";
  HttpCall("POST", server.base() + "/model-download/" + id + "/cancel", "",
           {"Content-Type: application/json"});
}

}  // namespace
}  // namespace modeld::testing
