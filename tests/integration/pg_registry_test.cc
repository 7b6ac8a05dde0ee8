// Several modeld processes on one PostgreSQL registry (--registry) and one data dir: what
// one pulls the others list, reuse and remove; two pulling the same file at once fetch it
// once. On a throwaway cluster (tests/pg); skipped, saying why, without postgresql.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "http_client.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"
#include "throwaway_pg.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;

class PgRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MODELD_PG_DATABASE_OR_SKIP(url);
    url_ = url;
  }
  // `modeld --registry URL --data-dir D args... --json`, parsed.
  nlohmann::json Json(std::vector<std::string> args, int want_rc = 0) {
    args.insert(args.begin(), {"--registry", url_});
    return RunModeldJson(std::move(args), data_, dir_.path(), want_rc);
  }
  std::vector<std::string> Pull(const std::string& url, const std::string& name) {
    return {"--registry", url_, "--data-dir", data_.string(), "pull", "-q", url, "--name", name};
  }

  TestOrigin origin_;
  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  std::string url_;
};

TEST_F(PgRegistryTest, ProcessesShareOneRegistryAndDataDir) {
  std::string data = RandomBytes(16 * kMiB, 7);
  origin_.Put("/shared.gguf", {.content = data, .rate = 4 * kMiB});
  // Two instances pull the same file at once: one downloads, the other waits and reuses it.
  Child a(Pull(origin_.Url("/shared.gguf"), "first"), dir_.path());
  ASSERT_TRUE(origin_.WaitForBodyBytes("/shared.gguf", 1)) << a.Stderr();  // a is downloading
  Child b(Pull(origin_.Url("/shared.gguf"), "second"), dir_.path());
  EXPECT_EQ(a.Wait(), 0) << a.Stderr();
  EXPECT_EQ(b.Wait(), 0) << b.Stderr();
  EXPECT_LT(origin_.BodyBytes("/shared.gguf"), data.size() + data.size() / 10) << "fetched once";
  EXPECT_FALSE(fs::exists(data_ / "registry.sqlite")) << "the registry is PostgreSQL's";

  // A third process lists both; the registry knows the blob once.
  auto ls = Json({"ls"});
  ASSERT_EQ(ls["models"].size(), 2u) << ls.dump();
  EXPECT_EQ(ls["models"][0]["name"], "first");
  EXPECT_EQ(ls["models"][0]["status"], "available");
  EXPECT_EQ(ls["models"][1]["name"], "second");
  EXPECT_EQ(ls["models"][1]["size"], data.size());
  EXPECT_EQ(Json({"cache"})["blobs"], 1);
  auto info = Json({"info", "second"});
  EXPECT_EQ(info["files"][0]["sha256"], Sha256Hex(data));
  EXPECT_EQ(FileSha256(data_ / "models" / "second" / "latest" / "shared.gguf"), Sha256Hex(data));

  // The same URL again from yet another process: the url memo in the registry, no fetch.
  const uint64_t before = origin_.BodyBytes("/shared.gguf");
  auto again = Json({"pull", "-q", origin_.Url("/shared.gguf"), "--name", "third"});
  EXPECT_EQ(again["downloaded"], false);
  EXPECT_LE(origin_.BodyBytes("/shared.gguf"), before + 1) << "at most a size probe's byte";

  auto verify = Json({"verify"});  // reads every byte
  EXPECT_EQ(verify.dump().find("broken"), std::string::npos) << verify.dump();
  Json({"rm", "first"});
  Json({"rm", "third"});
  ls = Json({"ls"});
  ASSERT_EQ(ls["models"].size(), 1u);
  EXPECT_EQ(ls["models"][0]["name"], "second");
  // MODELD_REGISTRY says the same as --registry.
  std::string out, err;
  ASSERT_EQ(RunModeldEnv({"--data-dir", data_.string(), "ls", "--json"}, dir_.path(),
                         {"MODELD_REGISTRY=" + url_}, &out, &err),
            0)
      << err;
  EXPECT_EQ(nlohmann::json::parse(out)["models"].size(), 1u) << out;
}

// A server and the CLI on one registry: what the server pulls the CLI lists, a second
// server (the first killed) lists it and its job, and rm from the CLI is what it then sees.
TEST_F(PgRegistryTest, AServerAndTheCliShareTheRegistry) {
  std::string data = RandomBytes(2 * kMiB, 9);
  origin_.Put("/m.bin", {.content = data});
  {
    ServeChild s(data_, {"--registry", url_});
    ASSERT_GT(s.port(), 0) << s.Log();
    // It says which registry, without the user part.
    EXPECT_NE(s.Log().find("registry postgresql://***@127.0.0.1:"), std::string::npos) << s.Log();
    auto r = HttpCall(
        "POST", s.base() + "/model-download?wait=true",
        nlohmann::json({{"model_name", "served"}, {"download_url", origin_.Url("/m.bin")}}).dump(),
        {"Content-Type: application/json"});
    ASSERT_EQ(r.status, 200) << r.body << s.Log();
    auto ls = Json({"ls"});
    ASSERT_EQ(ls["models"].size(), 1u) << ls.dump();
    EXPECT_EQ(ls["models"][0]["name"], "served");
    EXPECT_EQ(ls["models"][0]["status"], "available");
    s.Signal(SIGKILL);
    s.Wait();
  }
  ServeChild again(data_, {"--registry", url_});
  ASSERT_GT(again.port(), 0) << again.Log();
  auto models = HttpCall("GET", again.base() + "/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_NE(models.body.find("served"), std::string::npos) << models.body;
  auto jobs = HttpCall("GET", again.base() + "/model-download");
  EXPECT_NE(jobs.body.find("completed"), std::string::npos) << jobs.body;
  Json({"rm", "served"});
  models = HttpCall("GET", again.base() + "/models");
  EXPECT_EQ(models.body.find("served"), std::string::npos) << models.body;
}

TEST(PgRegistryErrorsTest, ABadRegistryIsRefusedWithoutShowingItsPassword) {
  ScratchDir dir;
  std::string out, err;
  EXPECT_NE(RunModeld({"--data-dir", (dir / "d").string(), "--registry", "mysql://x/y", "ls"},
                      dir.path(), &out, &err),
            0);
  EXPECT_NE(err.find("postgresql://"), std::string::npos) << err;
  // Nothing listens on port 1.
  EXPECT_NE(RunModeld({"--data-dir", (dir / "d").string(), "--registry",
                       "postgresql://modeld:hunter2-secret@127.0.0.1:1/db?connect_timeout=5", "ls"},
                      dir.path(), &out, &err),
            0);
  EXPECT_NE(err.find("127.0.0.1"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2-secret"), std::string::npos) << err;
  EXPECT_EQ(out.find("hunter2-secret"), std::string::npos) << out;
}

}  // namespace
}  // namespace modeld::testing
