#include "api/access_policy.h"

#include <gtest/gtest.h>

namespace modeld::api {
namespace {

TEST(AccessPolicyTest, ParsesHostHeaders) {
  struct Case {
    const char* in;
    bool ok;
    const char* host;
    int port;
  } cases[] = {
      {"localhost", true, "localhost", 0},
      {"LocalHost:8000", true, "localhost", 8000},
      {"127.0.0.1:80", true, "127.0.0.1", 80},
      {"[::1]:8000", true, "::1", 8000},
      {"[::1]", true, "::1", 0},
      {"::1", false, "", 0},
      {"a:b:c", false, "", 0},
      {"host:", false, "", 0},
      {"host:0", false, "", 0},
      {"host:65536", false, "", 0},
      {"host:12x", false, "", 0},
      {"ho st", false, "", 0},
      {"evil.example/x", false, "", 0},
      {"", false, "", 0},
      {"[::1", false, "", 0},
      {"[::1]x", false, "", 0},
  };
  for (const auto& c : cases) {
    auto hp = ParseHostPort(c.in);
    EXPECT_EQ(hp.has_value(), c.ok) << c.in;
    if (hp && c.ok) {
      EXPECT_EQ(hp->host, c.host) << c.in;
      EXPECT_EQ(hp->port, c.port) << c.in;
    }
  }
}

// Regression (fuzz/access_policy_fuzz.cc): brackets around a name or an IPv4 address
// ("[localhost]", "[%25]") were taken off, so "http://[%25]:8000" normalised to an
// origin that is not its own normal form. Brackets hold an IPv6 address only.
TEST(AccessPolicyTest, BracketsHoldOnlyIPv6) {
  for (const char* bad : {"[localhost]:8000", "[127.0.0.1]", "[%25]:8000", "[evil.example]"}) {
    EXPECT_FALSE(ParseHostPort(bad)) << bad;
  }
  EXPECT_EQ(NormalizeOrigin("http://[%25]:8000"), "");
  EXPECT_EQ(NormalizeOrigin("http://[FE80::1%25eth0]:8000"), "http://[fe80::1%25eth0]:8000");
  AccessPolicy policy(AccessPolicyOptions{{"127.0.0.1"}, {}, {}});
  EXPECT_FALSE(policy.HostAllowed("[localhost]:8000"));
  EXPECT_TRUE(policy.HostAllowed("localhost:8000"));
}

TEST(AccessPolicyTest, NormalizesOrigins) {
  EXPECT_EQ(NormalizeOrigin("http://LOCALHOST:5173"), "http://localhost:5173");
  EXPECT_EQ(NormalizeOrigin("https://app.example"), "https://app.example:443");
  EXPECT_EQ(NormalizeOrigin("http://app.example/"), "http://app.example:80");
  EXPECT_EQ(NormalizeOrigin("http://[::1]:8000"), "http://[::1]:8000");
  EXPECT_EQ(NormalizeOrigin("null"), "");
  EXPECT_EQ(NormalizeOrigin("file://"), "");
  EXPECT_EQ(NormalizeOrigin("http://a@b"), "");
  EXPECT_EQ(NormalizeOrigin("http://a/b"), "");
  EXPECT_EQ(NormalizeOrigin("chrome-extension://abc"), "");
}

TEST(AccessPolicyTest, HostsAnswered) {
  AccessPolicy p({.listen_addresses = {"127.0.0.1", "::1"}, .allowed_hosts = {"Models.LAN"}});
  EXPECT_TRUE(p.HostAllowed("localhost:8000"));
  EXPECT_TRUE(p.HostAllowed("127.0.0.1:8000"));
  EXPECT_TRUE(p.HostAllowed("[::1]:8000"));
  EXPECT_TRUE(p.HostAllowed("[::ffff:127.0.0.1]:8000")) << "the same address, v4-mapped";
  EXPECT_TRUE(p.HostAllowed("models.lan"));
  EXPECT_TRUE(p.HostAllowed("")) << "HTTP/1.0 without Host";
  EXPECT_FALSE(p.HostAllowed("evil.example:8000"));
  EXPECT_FALSE(p.HostAllowed("127.0.0.2"));
  EXPECT_FALSE(p.HostAllowed("10.0.0.5"));
  EXPECT_FALSE(p.HostAllowed("localhost.evil.example"));
  EXPECT_FALSE(p.HostAllowed("sub.models.lan"));
  EXPECT_FALSE(p.HostAllowed("bad host"));
  AccessPolicy any({.listen_addresses = {"0.0.0.0"}});
  EXPECT_TRUE(any.HostAllowed("192.168.1.20:8000")) << "listening everywhere: any address";
  EXPECT_FALSE(any.HostAllowed("evil.example")) << "but still no foreign names";
}

TEST(AccessPolicyTest, OriginsAllowed) {
  AccessPolicy p({.listen_addresses = {"127.0.0.1"}, .allowed_origins = {"http://localhost:5173"}});
  EXPECT_TRUE(p.OriginAllowed("", "127.0.0.1:8000"))
      << "no Origin: not a browser's cross-site request";
  EXPECT_TRUE(p.OriginAllowed("http://127.0.0.1:8000", "127.0.0.1:8000"));
  EXPECT_TRUE(p.OriginAllowed("http://localhost:8000", "localhost:8000"));
  EXPECT_TRUE(p.OriginAllowed("http://localhost", "localhost")) << "default port";
  EXPECT_TRUE(p.OriginAllowed("http://localhost:5173", "127.0.0.1:8000"));
  EXPECT_FALSE(p.OriginAllowed("http://localhost:8000", "127.0.0.1:8000")) << "another origin";
  EXPECT_FALSE(p.OriginAllowed("http://127.0.0.1:9000", "127.0.0.1:8000")) << "another port";
  EXPECT_FALSE(p.OriginAllowed("https://evil.example", "127.0.0.1:8000"));
  EXPECT_FALSE(p.OriginAllowed("null", "127.0.0.1:8000"));
  EXPECT_TRUE(p.CorsAllowed("http://localhost:5173"));
  EXPECT_FALSE(p.CorsAllowed("http://127.0.0.1:8000")) << "same-origin pages need no CORS";
  EXPECT_FALSE(p.CorsAllowed("https://evil.example"));
}

TEST(AccessPolicyTest, JsonContentTypes) {
  EXPECT_TRUE(AccessPolicy::IsJsonContentType("application/json"));
  EXPECT_TRUE(AccessPolicy::IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(AccessPolicy::IsJsonContentType("application/merge-patch+json"));
  EXPECT_FALSE(AccessPolicy::IsJsonContentType("text/plain"));
  EXPECT_FALSE(AccessPolicy::IsJsonContentType("application/x-www-form-urlencoded"));
  EXPECT_FALSE(AccessPolicy::IsJsonContentType("multipart/form-data; boundary=x"));
  EXPECT_FALSE(AccessPolicy::IsJsonContentType("text/plain; x=application/json"));
  EXPECT_FALSE(AccessPolicy::IsJsonContentType(""));
}

TEST(AccessPolicyTest, FormContentTypes) {
  EXPECT_TRUE(AccessPolicy::IsFormContentType("application/x-www-form-urlencoded"));
  EXPECT_TRUE(AccessPolicy::IsFormContentType(" Application/X-WWW-Form-Urlencoded ; charset=x"));
  EXPECT_FALSE(AccessPolicy::IsFormContentType("multipart/form-data; boundary=x"));
  EXPECT_FALSE(AccessPolicy::IsFormContentType("application/json"));
  EXPECT_FALSE(AccessPolicy::IsFormContentType(""));
  EXPECT_TRUE(AccessPolicy::BodyTypeAllowed("application/json", false));
  EXPECT_FALSE(AccessPolicy::BodyTypeAllowed("application/x-www-form-urlencoded", false));
  EXPECT_TRUE(AccessPolicy::BodyTypeAllowed("application/x-www-form-urlencoded", true));
  EXPECT_FALSE(AccessPolicy::BodyTypeAllowed("text/plain", true));
}

}  // namespace
}  // namespace modeld::api
