// `modeld pull` end to end: the real binary against the test origin.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "origin.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = 1 << 20;

class PullCliTest : public ::testing::Test {
 protected:
  TestOrigin origin_;
  ScratchDir dir_;
};

TEST_F(PullCliTest, InstallsVerifiedFileWithPlainProgressWhenPiped) {
  std::string data = RandomBytes(12 * kMiB, 1);
  origin_.Put("/models/tiny.bin", {.content = data, .rate = 8 * kMiB});
  std::string err;
  int rc = RunModeld({"pull", origin_.Url("/models/tiny.bin"), "-o", (dir_ / "tiny.bin").string(),
                      "--sha256", Sha256Hex(data)},
                     dir_.path(), nullptr, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(FileSha256(dir_ / "tiny.bin"), Sha256Hex(data));
  EXPECT_NE(err.find("sha256 " + Sha256Hex(data)), std::string::npos) << err;
  EXPECT_NE(err.find("MB/s"), std::string::npos) << "plain progress lines: " << err;
  EXPECT_EQ(err.find('\r'), std::string::npos) << "no terminal control codes in a pipe";
}

TEST_F(PullCliTest, DefaultNameAndFileComeFromTheUrl) {
  std::string data = RandomBytes(1000, 2);
  origin_.Put("/a/weights.Q4_K_M.gguf", {.content = data});
  fs::path store = dir_ / "data";
  int rc = RunModeld({"--data-dir", store.string(), "pull", "-q", origin_.Url("/a/weights.Q4_K_M.gguf")},
                     dir_.path());
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(FileSha256(store / "models" / "weights" / "latest" / "weights.Q4_K_M.gguf"),
            Sha256Hex(data));
}

TEST_F(PullCliTest, JsonResult) {
  std::string data = RandomBytes(3 * kMiB, 3);
  origin_.Put("/m", {.content = data});
  std::string out;
  int rc = RunModeld({"pull", "--json", "-q", origin_.Url("/m"), "-o", (dir_ / "m").string()},
                     dir_.path(), &out);
  ASSERT_EQ(rc, 0);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["sha256"], Sha256Hex(data));
  EXPECT_EQ(j["bytes"], data.size());
}

TEST_F(PullCliTest, ExitCodesNameTheFailure) {
  std::string data = RandomBytes(kMiB, 4);
  origin_.Put("/m", {.content = data});
  std::string err;
  EXPECT_EQ(RunModeld({"pull", origin_.Url("/missing"), "-o", (dir_ / "x").string()}, dir_.path(),
                      nullptr, &err),
            4)
      << err;
  EXPECT_NE(err.find("not found"), std::string::npos) << err;
  EXPECT_EQ(RunModeld({"pull", origin_.Url("/m"), "-o", (dir_ / "x").string(), "--sha256",
                       std::string(64, 'a')},
                      dir_.path(), nullptr, &err),
            5);
  EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir_ / "x"));
  EXPECT_EQ(RunModeld({"pull", origin_.Url("/m"), "--sha256", "xyz"}, dir_.path(), nullptr, &err),
            2);
  EXPECT_NE(err.find("hex digits"), std::string::npos) << err;
  EXPECT_EQ(RunModeld({"pull", "ftp://example.com/x"}, dir_.path(), nullptr, &err), 2);
  EXPECT_EQ(RunModeld({"pull"}, dir_.path(), nullptr, &err), 2);
  EXPECT_EQ(RunModeld({"pull", origin_.Url("/m"), "--connections", "0"}, dir_.path()), 2);
}

TEST_F(PullCliTest, HelpDocumentsOptionsAndExitCodes) {
  std::string out;
  EXPECT_EQ(RunModeld({"pull", "--help"}, dir_.path(), &out), 0);
  for (const char* want : {"--sha256", "--connections", "--retries", "--timeout",
                           "--no-verify-ssl", "Exit codes", "130"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << " missing from:\n" << out;
  }
}

TEST_F(PullCliTest, InterruptKeepsPartialAndExits130) {
  std::string data = RandomBytes(32 * kMiB, 5);
  origin_.Put("/m", {.content = data, .rate = 2 * kMiB});
  Child c({"pull", origin_.Url("/m"), "-o", (dir_ / "m").string()}, dir_.path());
  ASSERT_TRUE(origin_.WaitForBodyBytes("/m", 4 * kMiB));
  c.Signal(SIGINT);
  EXPECT_EQ(c.Wait(), 130);
  EXPECT_NE(c.Stderr().find("resume"), std::string::npos) << c.Stderr();
  EXPECT_FALSE(fs::exists(dir_ / "m"));
  EXPECT_TRUE(fs::exists(dir_ / "m.part"));
  EXPECT_TRUE(fs::exists(dir_ / "m.part.journal"));
}

// The headline promise: kill -9 at any moment, run the same command again, and almost
// nothing is downloaded twice.
TEST_F(PullCliTest, KillNineThenSameCommandResumesAndVerifies) {
  std::string data = RandomBytes(48 * kMiB, 6);
  origin_.Put("/big", {.content = data, .rate = kMiB});  // 16 connections: ~16 MiB/s
  std::vector<std::string> cmd = {"pull", origin_.Url("/big"), "-o", (dir_ / "big").string(),
                                  "--sha256", Sha256Hex(data)};
  {
    Child c(cmd, dir_.path());
    ASSERT_TRUE(origin_.WaitForBodyBytes("/big", data.size() / 2));
    c.Signal(SIGKILL);
    EXPECT_EQ(c.Wait(), 128 + SIGKILL);
  }
  EXPECT_FALSE(fs::exists(dir_ / "big")) << "nothing installed by a killed pull";
  uint64_t first = origin_.BodyBytes("/big");
  origin_.ResetLog();
  origin_.Update("/big", [](FileSpec& f) { f.rate = 0; });
  std::string err;
  ASSERT_EQ(RunModeld(cmd, dir_.path(), nullptr, &err), 0) << err;
  EXPECT_EQ(FileSha256(dir_ / "big"), Sha256Hex(data));
  EXPECT_NE(err.find("resumed from"), std::string::npos) << err;
  uint64_t second = origin_.BodyBytes("/big");
  uint64_t refetched = first + second - data.size();
  std::fprintf(stderr, "kill -9 resume: run 1 served %llu, run 2 %llu, refetched %llu (%.1f%%)\n",
               (unsigned long long)first, (unsigned long long)second,
               (unsigned long long)refetched, 100.0 * refetched / data.size());
  EXPECT_LT(refetched, data.size() / 10)
      << "first run sent " << first << ", second " << second << " of " << data.size();
  EXPECT_FALSE(fs::exists(dir_ / "big.part"));
  EXPECT_FALSE(fs::exists(dir_ / "big.part.journal"));
}

}  // namespace
}  // namespace modeld::testing
