// The upstream address policy from the command line: `modeld` refuses loopback and
// private upstreams unless --allow-private-upstreams or --allow-upstream says otherwise,
// and a configured proxy is always reachable.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

#include "engine_harness.h"
#include "origin.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

// Sets (or, with nullptr, removes) an environment variable for the scope; the test
// binary runs with MODELD_ALLOW_PRIVATE_UPSTREAMS=1, and children inherit it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (saved_) {
      ::setenv(name_, saved_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

class UpstreamCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = RandomBytes(300000, 1);
    origin_.Put("/m.bin", {.content = data_});
  }
  int Pull(std::vector<std::string> global, std::string* err) {
    std::vector<std::string> args = std::move(global);
    for (const std::string& a :
         {std::string("pull"), std::string("-q"), std::string("--local"), origin_.Url("/m.bin"),
          std::string("-o"), (dir_ / "m.bin").string(), std::string("--sha256"),
          Sha256Hex(data_)}) {
      args.push_back(a);
    }
    return RunModeld(args, dir_.path(), nullptr, err);
  }

  ScopedEnv no_allow_{"MODELD_ALLOW_PRIVATE_UPSTREAMS", nullptr};
  ScopedEnv no_proxy_env_{"http_proxy", nullptr};
  TestOrigin origin_;
  ScratchDir dir_;
  std::string data_;
};

TEST_F(UpstreamCliTest, DefaultRefusesALoopbackUpstreamAndSaysHowToAllowIt) {
  std::string err;
  EXPECT_EQ(Pull({}, &err), 7) << err;  // permission denied
  EXPECT_NE(err.find("refused to connect to 127.0.0.1 (loopback) for " + origin_.Url("/m.bin")),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("--allow-private-upstreams"), std::string::npos) << err;
  EXPECT_TRUE(origin_.Requests().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "m.bin"));
}

TEST_F(UpstreamCliTest, AllowUpstreamLetsOneNetworkThrough) {
  std::string err;
  EXPECT_EQ(Pull({"--allow-upstream", "10.0.0.0/8"}, &err), 7) << err;
  ASSERT_EQ(Pull({"--allow-upstream", "127.0.0.1/32"}, &err), 0) << err;
  EXPECT_EQ(FileSha256(dir_ / "m.bin"), Sha256Hex(data_));
}

TEST_F(UpstreamCliTest, AllowPrivateUpstreamsFlagAndEnvironment) {
  std::string err;
  ASSERT_EQ(Pull({"--allow-private-upstreams"}, &err), 0) << err;
  std::filesystem::remove(dir_ / "m.bin");
  ScopedEnv allow("MODELD_ALLOW_PRIVATE_UPSTREAMS", "1");
  ASSERT_EQ(Pull({}, &err), 0) << err;
  EXPECT_EQ(FileSha256(dir_ / "m.bin"), Sha256Hex(data_));
}

TEST_F(UpstreamCliTest, MalformedAllowUpstreamIsAUsageError) {
  std::string err;
  EXPECT_EQ(Pull({"--allow-upstream", "10.0.0.0/99"}, &err), 2) << err;
  EXPECT_NE(err.find("'10.0.0.0/99' is neither a CIDR block"), std::string::npos) << err;
}

// With a proxy, libcurl connects to the proxy only: its address is allowed (a loopback
// proxy too) and where the proxy connects is its business.
TEST_F(UpstreamCliTest, TheConfiguredProxyIsAllowed) {
  TestOrigin proxy;
  std::string seen;
  proxy.Handle("http://", [&](const std::string& method, const std::string& target,
                              const std::map<std::string, std::string>&) {
    seen = method + " " + target;
    return SimpleResponse{200, {{"Content-Type", "application/octet-stream"}}, data_};
  });
  ScopedEnv via_proxy("http_proxy", ("http://127.0.0.1:" + std::to_string(proxy.port())).c_str());
  std::string err;
  int rc = RunModeld({"pull", "-q", "--local", "http://models.example.invalid/w.bin", "-o",
                      (dir_ / "w.bin").string(), "--sha256", Sha256Hex(data_)},
                     dir_.path(), nullptr, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(seen.rfind("GET http://models.example.invalid/w.bin", 0), 0u) << seen;
}

}  // namespace
}  // namespace modeld::testing
