// The SSRF address policy (net/upstream_policy.h): addresses a name resolved to (as
// getaddrinfo hands them over) through IpAddress::FromSockaddr, ClassifyAddress and
// UpstreamPolicy::Refusal, and --allow-upstream entries through IpAddress::Parse,
// Cidr::Parse and UpstreamPolicy::Allow.
//
// Input: 16 bytes of an IPv6 address (its last 4 also an IPv4 one), then an entry.
//
// Invariants: an IPv4 address is classified the same as its IPv4-mapped and NAT64 forms
// (and its IPv4-compatible form, but for 0.0.0.0/24); the default policy refuses exactly
// the addresses that are not public, and with private upstreams allowed, exactly the
// metadata services; an address prints and parses back to itself; an accepted entry is a
// CIDR block containing its base, which is then allowed, or a host name; a refused
// entry is InvalidArgument.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "fuzz_check.h"
#include "net/upstream_policy.h"

namespace {

using modeld::net::AddressClass;
using modeld::net::ClassifyAddress;
using modeld::net::IpAddress;

IpAddress From6(const uint8_t* bytes) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  std::memcpy(&sa.sin6_addr, bytes, 16);
  auto ip = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  FUZZ_CHECK(ip.has_value() && std::memcmp(ip->bytes.data(), bytes, 16) == 0);
  return *ip;
}

void CheckPolicies(const IpAddress& ip) {
  static const modeld::net::UpstreamPolicy strict;
  static const modeld::net::UpstreamPolicy lax = [] {
    modeld::net::UpstreamPolicy p;
    p.set_allow_private(true);
    return p;
  }();
  AddressClass c = ClassifyAddress(ip);
  FUZZ_CHECK(strict.Refusal(ip, "").has_value() == (c != AddressClass::kPublic));
  FUZZ_CHECK(lax.Refusal(ip, "").has_value() == (c == AddressClass::kMetadata));
  auto again = IpAddress::Parse(ip.ToString());
  FUZZ_CHECK(again && again->bytes == ip.bytes && again->v4 == ip.v4);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  if (size < 16) return 0;
  IpAddress ip6 = From6(data);
  CheckPolicies(ip6);

  const uint8_t* v4 = data + 12;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  std::memcpy(&sa.sin_addr, v4, 4);
  auto ip4 = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  FUZZ_CHECK(ip4 && ip4->v4);
  CheckPolicies(*ip4);
  AddressClass c4 = ClassifyAddress(*ip4);
  uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  uint8_t nat64[16] = {0, 0x64, 0xff, 0x9b};
  uint8_t compatible[16] = {};
  for (uint8_t* form : {mapped, nat64, compatible}) std::memcpy(form + 12, v4, 4);
  FUZZ_CHECK(ClassifyAddress(From6(mapped)) == c4);
  FUZZ_CHECK(ClassifyAddress(From6(nat64)) == c4);
  if (v4[0] != 0 || v4[1] != 0 || v4[2] != 0) FUZZ_CHECK(ClassifyAddress(From6(compatible)) == c4);

  std::string_view entry = fuzz::AsText(data + 16, size - 16);
  if (auto parsed = IpAddress::Parse(entry)) CheckPolicies(*parsed);
  auto cidr = net::Cidr::Parse(entry);
  if (cidr) {
    FUZZ_CHECK(cidr->prefix >= 0 && cidr->prefix <= 128);
    if (cidr->base.v4) FUZZ_CHECK(cidr->prefix >= 96);
    FUZZ_CHECK(cidr->Contains(cidr->base));
    if (cidr->prefix == 0 || (cidr->base.v4 && cidr->prefix == 96)) {
      FUZZ_CHECK(cidr->Contains(ip6) || cidr->base.v4);
      if (cidr->base.v4) FUZZ_CHECK(cidr->Contains(*ip4));
    }
  }
  net::UpstreamPolicy policy;
  Status s = policy.Allow(entry);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument && !cidr);
  } else if (cidr) {
    FUZZ_CHECK(!policy.Refusal(cidr->base, "").has_value());
  } else {
    FUZZ_CHECK(policy.has_hosts());
  }
  return 0;
}
