// The store through the CLI: pull into the store, ls/info/rm/verify/gc/cache, and two
// processes pulling the same file at once.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "origin.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;

class StoreCliTest : public ::testing::Test {
 protected:
  // Runs `modeld --data-dir D args... --json` and parses stdout.
  nlohmann::json Json(std::vector<std::string> args, int want_rc = 0) {
    return RunModeldJson(std::move(args), data_, dir_.path(), want_rc);
  }
  int Run(std::vector<std::string> args, std::string* err = nullptr) {
    args.insert(args.begin(), {"--data-dir", data_.string()});
    return RunModeld(args, dir_.path(), nullptr, err);
  }

  TestOrigin origin_;
  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
};

TEST_F(StoreCliTest, PullListInfoRemove) {
  std::string data = RandomBytes(3 * kMiB, 1);
  origin_.Put("/models/resnet50.pth", {.content = data});
  auto pulled = Json({"pull", "-q", origin_.Url("/models/resnet50.pth"), "--sha256",
                      Sha256Hex(data), "--name", "resnet50:v1.0"});
  EXPECT_EQ(pulled["ref"], "resnet50:v1.0");
  EXPECT_EQ(pulled["downloaded"], true);
  fs::path file = data_ / "models" / "resnet50" / "v1.0" / "resnet50.pth";
  EXPECT_EQ(pulled["path"], (data_ / "models" / "resnet50" / "v1.0").string());
  EXPECT_EQ(FileSha256(file), Sha256Hex(data));

  auto ls = Json({"ls"});
  ASSERT_EQ(ls["models"].size(), 1u);
  EXPECT_EQ(ls["models"][0]["name"], "resnet50");
  EXPECT_EQ(ls["models"][0]["version"], "v1.0");
  EXPECT_EQ(ls["models"][0]["status"], "available");
  EXPECT_EQ(ls["models"][0]["size"], data.size());

  auto info = Json({"info", "resnet50:v1.0"});
  EXPECT_EQ(info["files"][0]["path"], "resnet50.pth");
  EXPECT_EQ(info["files"][0]["sha256"], Sha256Hex(data));
  EXPECT_EQ(info["metadata"]["url"], origin_.Url("/models/resnet50.pth"));

  // Installed already, as asked: success, nothing fetched (--force fetches again).
  std::string err;
  EXPECT_EQ(Run({"pull", origin_.Url("/models/resnet50.pth"), "--name", "resnet50:v1.0"}, &err), 0);
  EXPECT_NE(err.find("already installed"), std::string::npos) << err;

  // The same URL as another model: no second download, one blob.
  auto again = Json({"pull", "-q", origin_.Url("/models/resnet50.pth"), "--name", "copy"});
  EXPECT_EQ(again["downloaded"], false);
  // Downloaded once: the body, and the single byte of a size probe.
  EXPECT_LE(origin_.BodyBytes("/models/resnet50.pth"), data.size() + 2);
  auto cache = Json({"cache"});
  EXPECT_EQ(cache["blobs"], 1);
  EXPECT_EQ(cache["blob_bytes"], data.size());
  EXPECT_EQ(cache["logical_bytes"], 2 * data.size());

  auto rm = Json({"rm", "resnet50"});
  EXPECT_EQ(rm["removed"], nlohmann::json::array({"resnet50:v1.0"}));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(Json({"cache"})["blobs"], 1) << "still used by copy:latest";
  Json({"rm", "copy:latest"});
  EXPECT_EQ(Json({"cache"})["blobs"], 0);
  EXPECT_EQ(Run({"rm", "copy"}, &err), 4) << "removing what is not there is a not-found";
  EXPECT_EQ(Run({"info", "nope:v1"}, &err), 4);
}

TEST_F(StoreCliTest, BadNamesAreRefused) {
  origin_.Put("/m", {.content = "x"});
  std::string err;
  for (const char* bad : {"../escape", "/abs", "a:b:c", "x:..", "a b"}) {
    EXPECT_EQ(Run({"pull", "-q", origin_.Url("/m"), "--name", bad}, &err), 2) << bad;
  }
  EXPECT_EQ(Run({"info", "../x"}, &err), 2);
  EXPECT_EQ(Run({"rm", "a/../b"}, &err), 2);
  EXPECT_FALSE(fs::exists(dir_ / "escape"));
  EXPECT_EQ(origin_.Requests("/m").size(), 0u) << "refused before any request";
}

TEST_F(StoreCliTest, VerifyFindsBrokenModelsAndLsShowsThem) {
  std::string data = RandomBytes(kMiB, 2);
  origin_.Put("/w.bin", {.content = data});
  Json({"pull", "-q", origin_.Url("/w.bin"), "--name", "w:v1"});
  EXPECT_EQ(Json({"verify"})["ok"], true);
  fs::path file = data_ / "models" / "w" / "v1" / "w.bin";
  fs::remove(file);
  std::ofstream(file) << std::string(data.size(), 'x');  // same size, other bytes
  EXPECT_EQ(Json({"ls"})["models"][0]["status"], "broken")
      << "not the file installed (another inode): ls's stat sees it without reading it";
  auto v = Json({"verify", "w:v1"}, 5);
  EXPECT_EQ(v["ok"], false);
  EXPECT_EQ(Json({"ls"})["models"][0]["status"], "broken");
  fs::remove(file);
  Json({"pull", "-q", "--force", origin_.Url("/w.bin"), "--name", "w:v1"});
  EXPECT_EQ(Json({"verify"})["ok"], true);
  EXPECT_EQ(Json({"ls"})["models"][0]["status"], "available");
}

TEST_F(StoreCliTest, TwoProcessesPullingTheSameFileDownloadItOnce) {
  std::string data = RandomBytes(16 * kMiB, 3);
  origin_.Put("/shared.gguf", {.content = data, .rate = 4 * kMiB});
  std::vector<std::string> base = {"--data-dir", data_.string(), "pull", "-q",
                                   origin_.Url("/shared.gguf")};
  auto a_args = base, b_args = base;
  a_args.insert(a_args.end(), {"--name", "first"});
  b_args.insert(b_args.end(), {"--name", "second"});
  Child a(a_args, dir_.path());
  ASSERT_TRUE(origin_.WaitForBodyBytes("/shared.gguf", 1));  // a is downloading
  Child b(b_args, dir_.path());
  EXPECT_EQ(a.Wait(), 0) << a.Stderr();
  EXPECT_EQ(b.Wait(), 0) << b.Stderr();
  EXPECT_LT(origin_.BodyBytes("/shared.gguf"), data.size() + data.size() / 10)
      << "the second process waited and reused the blob";
  auto ls = Json({"ls"});
  ASSERT_EQ(ls["models"].size(), 2u);
  EXPECT_EQ(Json({"cache"})["blobs"], 1);
  EXPECT_EQ(FileSha256(data_ / "models" / "first" / "latest" / "shared.gguf"), Sha256Hex(data));
  EXPECT_EQ(FileSha256(data_ / "models" / "second" / "latest" / "shared.gguf"), Sha256Hex(data));
}

TEST_F(StoreCliTest, KilledPullResumesAndGcCleansAbandonedPartials) {
  std::string data = RandomBytes(16 * kMiB, 4);
  origin_.Put("/big.bin", {.content = data, .rate = 2 * kMiB});
  {
    Child c({"--data-dir", data_.string(), "pull", "-q", origin_.Url("/big.bin")}, dir_.path());
    ASSERT_TRUE(origin_.WaitForBodyBytes("/big.bin", 6 * kMiB));
    c.Signal(SIGKILL);
    c.Wait();
  }
  EXPECT_EQ(Json({"cache"})["partials"], 1);
  EXPECT_EQ(Json({"ls"})["models"].size(), 0u) << "nothing installed by a killed pull";
  auto gc = Json({"gc", "--partials-older-than", "24"});
  EXPECT_EQ(gc["partials_removed"], 0) << "a fresh partial is kept for resume";
  origin_.ResetLog();
  origin_.Update("/big.bin", [](FileSpec& f) { f.rate = 0; });
  auto pulled = Json({"pull", "-q", origin_.Url("/big.bin")});
  EXPECT_GT(pulled["resumed_bytes"].get<uint64_t>(), 4 * kMiB);
  EXPECT_LT(origin_.BodyBytes("/big.bin"), data.size() - 4 * kMiB);
  EXPECT_EQ(Json({"cache"})["partials"], 0);

  // An abandoned partial goes with gc.
  origin_.Update("/big.bin", [](FileSpec& f) { f.rate = 2 * kMiB; });
  {
    Child c({"--data-dir", data_.string(), "pull", "-q", "--force", "--name", "other",
             origin_.Url("/big.bin")},
            dir_.path());
    ASSERT_TRUE(origin_.WaitForBodyBytes("/big.bin", data.size() + 2 * kMiB));
    c.Signal(SIGKILL);
    c.Wait();
  }
  EXPECT_EQ(Json({"cache"})["partials"], 1);
  auto gc2 = Json({"gc", "--partials-older-than", "0"});
  EXPECT_EQ(gc2["partials_removed"], 1);
  EXPECT_EQ(Json({"cache"})["partials"], 0);
  EXPECT_EQ(Json({"cache"})["blobs"], 1) << "the installed model's blob stays";
}

}  // namespace
}  // namespace modeld::testing
