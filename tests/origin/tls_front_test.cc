// The TLS front and the forward proxy the corporate-network tests stand on, driven by
// libcurl as modeld drives them.
#include "tls_front.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "forward_proxy.h"
#include "origin.h"

namespace modeld::testing {
namespace {

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

struct Got {
  CURLcode rc = CURLE_OK;
  long status = 0;
  std::string body;
};

// GET |url| trusting |ca_file|, through |proxy| when not empty.
Got Get(const std::string& url, const std::string& ca_file, const std::string& proxy = "") {
  Got g;
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(e, CURLOPT_PROXY, proxy.c_str());  // "" is no proxy
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &g.body);
  g.rc = curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &g.status);
  curl_easy_cleanup(e);
  return g;
}

class TlsFrontTest : public ::testing::Test {
 protected:
  TlsFrontTest() {
    ca_.WriteCert(ca_pem_);
    TestCa("another CA").WriteCert(other_pem_);
    origin_.Put("/f", {.content = "hello over tls"});
  }
  ~TlsFrontTest() override {
    std::filesystem::remove(ca_pem_);
    std::filesystem::remove(other_pem_);
  }
  const std::string ca_pem_ = (std::filesystem::temp_directory_path() /
                               ("modeld_tls_front_ca_" + std::to_string(::getpid()) + ".pem"))
                                  .string();
  const std::string other_pem_ = ca_pem_ + ".other";
  TestCa ca_;
  TestOrigin origin_;
};

TEST_F(TlsFrontTest, ServesTheOriginToAClientThatTrustsTheCaOnly) {
  TlsFront front(origin_.port(), ca_.Issue({"localhost", "127.0.0.1"}));
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    Got g = Get(front.Base(host) + "/f", ca_pem_);
    ASSERT_EQ(g.rc, CURLE_OK) << host << ": " << curl_easy_strerror(g.rc);
    EXPECT_EQ(g.status, 200);
    EXPECT_EQ(g.body, "hello over tls");
  }
  EXPECT_EQ(front.Handshakes(), 2);
  Got g = Get(front.Base() + "/f", other_pem_);
  EXPECT_EQ(g.rc, CURLE_PEER_FAILED_VERIFICATION);
  EXPECT_TRUE(front.WaitForFailedHandshakes(1));
  EXPECT_EQ(front.FailedHandshakes(), 1);
  EXPECT_EQ(origin_.Requests("/f").size(), 2u);
}

TEST_F(TlsFrontTest, AProxyTunnelsHttpsAndForwardsHttp) {
  TlsFront front(origin_.port(), ca_.Issue({"localhost"}));
  ForwardProxy proxy;
  Got g = Get(front.Base() + "/f", ca_pem_, proxy.Url());
  ASSERT_EQ(g.rc, CURLE_OK) << curl_easy_strerror(g.rc);
  EXPECT_EQ(g.body, "hello over tls");
  EXPECT_EQ(proxy.Tunnels(), std::vector<std::string>{"localhost:" + std::to_string(front.port())});
  g = Get(origin_.Url("/f"), ca_pem_, proxy.Url());
  ASSERT_EQ(g.rc, CURLE_OK) << curl_easy_strerror(g.rc);
  EXPECT_EQ(g.body, "hello over tls");
  EXPECT_EQ(proxy.Forwarded(), std::vector<std::string>{origin_.Url("/f")});
  // A tunnel to nowhere is a 502, not a hang.
  proxy.Stop();
  ForwardProxy other;
  g = Get("https://127.0.0.1:1/f", ca_pem_, other.Url());
  EXPECT_NE(g.rc, CURLE_OK);
  EXPECT_TRUE(other.Tunnels().empty());
}

}  // namespace
}  // namespace modeld::testing
