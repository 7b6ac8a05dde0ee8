#include "net/upstream_policy.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace modeld::net {
namespace {

IpAddress Ip(const char* text) {
  auto ip = IpAddress::Parse(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip.value_or(IpAddress{});
}

TEST(AddressClassTest, Table) {
  struct Case {
    const char* ip;
    AddressClass want;
  };
  const Case cases[] = {
      // IPv4
      {"8.8.8.8", AddressClass::kPublic},
      {"1.1.1.1", AddressClass::kPublic},
      {"127.0.0.1", AddressClass::kLoopback},
      {"127.255.0.9", AddressClass::kLoopback},
      {"10.0.0.1", AddressClass::kPrivate},
      {"10.255.255.255", AddressClass::kPrivate},
      {"172.16.0.1", AddressClass::kPrivate},
      {"172.31.255.254", AddressClass::kPrivate},
      {"172.15.0.1", AddressClass::kPublic},
      {"172.32.0.1", AddressClass::kPublic},
      {"192.168.1.1", AddressClass::kPrivate},
      {"192.169.1.1", AddressClass::kPublic},
      {"100.64.0.1", AddressClass::kSharedCgnat},
      {"100.127.255.255", AddressClass::kSharedCgnat},
      {"100.128.0.1", AddressClass::kPublic},
      {"100.63.255.255", AddressClass::kPublic},
      {"169.254.1.1", AddressClass::kLinkLocal},
      {"169.254.169.254", AddressClass::kMetadata},
      {"0.0.0.0", AddressClass::kUnspecified},
      {"0.1.2.3", AddressClass::kUnspecified},
      // IPv6
      {"2606:4700::1111", AddressClass::kPublic},
      {"::1", AddressClass::kLoopback},
      {"[::1]", AddressClass::kLoopback},
      {"::", AddressClass::kUnspecified},
      {"fe80::1", AddressClass::kLinkLocal},
      {"febf::1", AddressClass::kLinkLocal},
      {"fec0::1", AddressClass::kPrivate},
      {"fc00::1", AddressClass::kUniqueLocal},
      {"fd12:3456::1", AddressClass::kUniqueLocal},
      {"fd00:ec2::254", AddressClass::kMetadata},
      {"fd00:ec2::253", AddressClass::kUniqueLocal},
      {"fbff::1", AddressClass::kPublic},
      // IPv4-mapped, IPv4-compatible and NAT64 forms carry their IPv4 address's class.
      {"::ffff:127.0.0.1", AddressClass::kLoopback},
      {"::ffff:7f00:1", AddressClass::kLoopback},
      {"::ffff:10.1.2.3", AddressClass::kPrivate},
      {"::ffff:169.254.169.254", AddressClass::kMetadata},
      {"::ffff:0.0.0.0", AddressClass::kUnspecified},
      {"::ffff:8.8.8.8", AddressClass::kPublic},
      {"::127.0.0.1", AddressClass::kLoopback},
      {"::192.168.0.1", AddressClass::kPrivate},
      {"64:ff9b::10.0.0.1", AddressClass::kPrivate},
      {"64:ff9b::8.8.8.8", AddressClass::kPublic},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ClassifyAddress(Ip(c.ip)), c.want)
        << c.ip << ": got " << AddressClassName(ClassifyAddress(Ip(c.ip)));
  }
}

TEST(AddressClassTest, ParseAndPrint) {
  EXPECT_EQ(Ip("127.0.0.1").ToString(), "127.0.0.1");
  EXPECT_EQ(Ip("::ffff:127.0.0.1").ToString(), "127.0.0.1");
  EXPECT_EQ(Ip("[fe80::1]").ToString(), "fe80::1");
  for (const char* bad : {"", "localhost", "1.2.3", "1.2.3.4.5", "::g", "[::1", "300.1.1.1"}) {
    EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << bad;
  }
}

TEST(CidrTest, ContainsAcrossFamiliesAndPrefixes) {
  auto v4 = Cidr::Parse("10.1.0.0/16");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->Contains(Ip("10.1.200.3")));
  EXPECT_TRUE(v4->Contains(Ip("::ffff:10.1.0.1")));  // the mapped form is the same address
  EXPECT_FALSE(v4->Contains(Ip("10.2.0.1")));
  auto one = Cidr::Parse("127.0.0.1");
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->Contains(Ip("127.0.0.1")));
  EXPECT_FALSE(one->Contains(Ip("127.0.0.2")));
  auto v6 = Cidr::Parse("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->Contains(Ip("fd12::1")));
  EXPECT_FALSE(v6->Contains(Ip("fc00::1")));
  auto odd = Cidr::Parse("172.16.0.0/12");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->Contains(Ip("172.31.0.1")));
  EXPECT_FALSE(odd->Contains(Ip("172.32.0.1")));
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->Contains(Ip("8.8.8.8")));
  for (const char* bad :
       {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "::/129", "x/8"}) {
    EXPECT_FALSE(Cidr::Parse(bad).has_value()) << bad;
  }
}

TEST(UpstreamPolicyTest, DefaultRefusesEveryNonPublicAddress) {
  UpstreamPolicy p;
  EXPECT_FALSE(p.Refusal(Ip("8.8.8.8"), "dns.google"));
  EXPECT_EQ(p.Refusal(Ip("127.0.0.1"), "localhost").value_or(""), "loopback");
  EXPECT_EQ(p.Refusal(Ip("::ffff:192.168.0.2"), "").value_or(""), "private network");
  EXPECT_EQ(p.Refusal(Ip("169.254.169.254"), "").value_or(""), "cloud metadata service");
}

TEST(UpstreamPolicyTest, AllowListsAndAllowPrivate) {
  UpstreamPolicy p;
  ASSERT_TRUE(p.Allow("10.1.0.0/16").ok());
  ASSERT_TRUE(p.Allow("Mirror.LAN").ok());
  EXPECT_FALSE(p.Refusal(Ip("10.1.2.3"), "any"));
  EXPECT_TRUE(p.Refusal(Ip("10.2.0.1"), "any"));
  EXPECT_FALSE(p.Refusal(Ip("192.168.9.9"), "mirror.lan"));  // by the URL's host name
  EXPECT_TRUE(p.Refusal(Ip("192.168.9.9"), "other.lan"));
  EXPECT_FALSE(p.Allow("10.0.0.0/40").ok());
  EXPECT_FALSE(p.Allow("http://x/").ok());
  EXPECT_FALSE(p.Allow("").ok());

  UpstreamPolicy all;
  all.set_allow_private(true);
  EXPECT_FALSE(all.Refusal(Ip("127.0.0.1"), ""));
  EXPECT_FALSE(all.Refusal(Ip("fd00::1"), ""));
  // The metadata service stays refused unless allowed by address or host.
  EXPECT_TRUE(all.Refusal(Ip("169.254.169.254"), ""));
  EXPECT_TRUE(all.Refusal(Ip("fd00:ec2::254"), ""));
  ASSERT_TRUE(all.Allow("169.254.169.254").ok());
  EXPECT_FALSE(all.Refusal(Ip("169.254.169.254"), ""));
}

TEST(UpstreamPolicyTest, ProxiesOfTheEnvironmentAreAllowed) {
  ::setenv("https_proxy", "http://user:pw@10.9.8.7:3128/", 1);
  ::setenv("ALL_PROXY", "socks5://[fd00::5]:1080", 1);
  UpstreamPolicy p;
  p.AllowProxiesFromEnvironment();
  ::unsetenv("https_proxy");
  ::unsetenv("ALL_PROXY");
  EXPECT_FALSE(p.Refusal(Ip("10.9.8.7"), "models.example"));
  EXPECT_FALSE(p.Refusal(Ip("fd00::5"), ""));
  EXPECT_TRUE(p.Refusal(Ip("10.9.8.6"), ""));
}

TEST(UpstreamPolicyTest, EnvironmentVariableAllowsPrivate) {
  const char* saved = std::getenv("MODELD_ALLOW_PRIVATE_UPSTREAMS");
  std::string keep = saved ? saved : "";
  ::setenv("MODELD_ALLOW_PRIVATE_UPSTREAMS", "1", 1);
  EXPECT_TRUE(UpstreamPolicy::FromEnvironment().allow_private());
  ::setenv("MODELD_ALLOW_PRIVATE_UPSTREAMS", "0", 1);
  EXPECT_FALSE(UpstreamPolicy::FromEnvironment().allow_private());
  if (saved) {
    ::setenv("MODELD_ALLOW_PRIVATE_UPSTREAMS", keep.c_str(), 1);
  } else {
    ::unsetenv("MODELD_ALLOW_PRIVATE_UPSTREAMS");
  }
}

}  // namespace
}  // namespace modeld::net
