// `modeld pull` end to end: the real binary against the test origin.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "origin.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;

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
  EXPECT_NE(err.find("MiB/s"), std::string::npos) << "plain progress lines: " << err;
  EXPECT_EQ(err.find('\r'), std::string::npos) << "no terminal control codes in a pipe";
}

TEST_F(PullCliTest, DefaultNameAndFileComeFromTheUrl) {
  std::string data = RandomBytes(1000, 2);
  origin_.Put("/a/weights.Q4_K_M.gguf", {.content = data});
  fs::path store = dir_ / "data";
  int rc =
      RunModeld({"--data-dir", store.string(), "pull", "-q", origin_.Url("/a/weights.Q4_K_M.gguf")},
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
  for (const char* want : {"--sha256", "--connections", "--retries", "--timeout", "--no-verify-ssl",
                           "Exit codes", "130"}) {
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
  std::vector<std::string> cmd = {"pull",     origin_.Url("/big"), "-o", (dir_ / "big").string(),
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
               (unsigned long long)first, (unsigned long long)second, (unsigned long long)refetched,
               100.0 * refetched / data.size());
  EXPECT_LT(refetched, data.size() / 10)
      << "first run sent " << first << ", second " << second << " of " << data.size();
  EXPECT_FALSE(fs::exists(dir_ / "big.part"));
  EXPECT_FALSE(fs::exists(dir_ / "big.part.journal"));
}

}  // namespace
}  // namespace modeld::testing

namespace modeld::testing {
namespace {

// A real HTTPS origin: `openssl s_server -WWW` with a self-signed certificate made for
// the test, on 127.0.0.1 port 0. It serves files from its working directory.
class TlsOrigin {
 public:
  explicit TlsOrigin(const fs::path& dir) {
    std::string cmd =
        "cd '" + dir.string() +
        "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem "
        "-days 1 -subj /CN=127.0.0.1 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) return;
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      ::close(out[0]);
      if (::chdir(dir.c_str()) != 0) ::_exit(127);
      ::execlp("openssl", "openssl", "s_server", "-WWW", "-accept", "127.0.0.1:0", "-cert",
               "cert.pem", "-key", "key.pem", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* f = ::fdopen(out[0], "r");
    char line[256];
    while (f && std::fgets(line, sizeof line, f)) {  // blocks until the server says where
      std::string l(line);
      if (l.rfind("ACCEPT", 0) == 0) {
        port_ = std::stoi(l.substr(l.rfind(':') + 1));
        break;
      }
    }
    out_ = f;
  }
  ~TlsOrigin() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_) std::fclose(out_);
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  FILE* out_ = nullptr;
};

TEST(TlsPullTest, VerifiesCertificatesUnlessToldNotTo) {
  ScratchDir dir;
  std::string data = RandomBytes(300000, 9);
  std::ofstream(dir / "f.bin", std::ios::binary) << data;
  TlsOrigin tls(dir.path());
  ASSERT_GT(tls.port(), 0) << "openssl s_server did not start";
  std::string url = "https://127.0.0.1:" + std::to_string(tls.port()) + "/f.bin";
  std::string err;
  EXPECT_EQ(
      RunModeld({"pull", "-q", url, "-o", (dir / "out.bin").string()}, dir.path(), nullptr, &err),
      7)
      << err;
  EXPECT_NE(err.find("certificate"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "out.bin"));
  ASSERT_EQ(RunModeld({"pull", "-q", "--no-verify-ssl", url, "-o", (dir / "out.bin").string(),
                       "--sha256", Sha256Hex(data)},
                      dir.path(), nullptr, &err),
            0)
      << err;
  EXPECT_EQ(FileSha256(dir / "out.bin"), Sha256Hex(data));
}

// Proxies come from the standard environment variables: the request for the origin goes
// to the proxy as an absolute URI.
TEST(ProxyPullTest, HonoursHttpProxyFromTheEnvironment) {
  ScratchDir dir;
  TestOrigin proxy;
  std::string data = RandomBytes(200000, 10);
  std::mutex mu;
  std::string seen;  // GUARDED_BY(mu): written on the proxy's thread
  proxy.Handle("http://", [&](const std::string& method, const std::string& target,
                              const std::map<std::string, std::string>&) {
    std::lock_guard<std::mutex> lock(mu);
    seen = method + " " + target;
    return SimpleResponse{200, {{"Content-Type", "application/octet-stream"}}, data};
  });
  std::string target = "http://models.example.invalid/w.bin";
  ::setenv("http_proxy", ("http://127.0.0.1:" + std::to_string(proxy.port())).c_str(), 1);
  std::string err;
  int rc =
      RunModeld({"pull", "-q", target, "-o", (dir / "w.bin").string(), "--sha256", Sha256Hex(data)},
                dir.path(), nullptr, &err);
  ::unsetenv("http_proxy");
  ASSERT_EQ(rc, 0) << err;
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.rfind("GET http://models.example.invalid/w.bin", 0), 0u) << seen;
  EXPECT_EQ(FileSha256(dir / "w.bin"), Sha256Hex(data));
}

}  // namespace
}  // namespace modeld::testing
