#include "net/upstream_policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/mutex.h"

namespace modeld::net {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool AllZero(const std::array<uint8_t, 16>& b, size_t from, size_t to) {
  return std::all_of(b.begin() + static_cast<long>(from), b.begin() + static_cast<long>(to),
                     [](uint8_t x) { return x == 0; });
}

AddressClass ClassifyV4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  if (a == 169 && b == 254 && c == 169 && d == 254) return AddressClass::kMetadata;
  if (a == 0) return AddressClass::kUnspecified;
  if (a == 127) return AddressClass::kLoopback;
  if (a == 169 && b == 254) return AddressClass::kLinkLocal;
  if (a == 10 || (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168)) {
    return AddressClass::kPrivate;
  }
  if (a == 100 && (b & 0xc0) == 64) return AddressClass::kSharedCgnat;
  return AddressClass::kPublic;
}

// A host name as URLs and the allow-list spell it: letters, digits, '-', '.', '_'.
bool IsHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

Mutex g_mu;
std::shared_ptr<const UpstreamPolicy> g_policy GUARDED_BY(g_mu);

}  // namespace

std::string_view AddressClassName(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kPrivate:
      return "private network";
    case AddressClass::kSharedCgnat:
      return "shared address space (CGNAT)";
    case AddressClass::kUniqueLocal:
      return "unique-local";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kMetadata:
      return "cloud metadata service";
  }
  return "unknown";
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  IpAddress out;
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out.v4 = true;
    out.bytes[10] = out.bytes[11] = 0xff;
    std::memcpy(out.bytes.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.bytes.data(), &v6, 16);
    out.v4 = AllZero(out.bytes, 0, 10) && out.bytes[10] == 0xff && out.bytes[11] == 0xff;
    return out;
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr* addr, socklen_t len) {
  if (addr == nullptr) return std::nullopt;
  IpAddress out;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    out.v4 = true;
    out.bytes[10] = out.bytes[11] = 0xff;
    std::memcpy(out.bytes.data() + 12, &in->sin_addr, 4);
    return out;
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    std::memcpy(out.bytes.data(), &in6->sin6_addr, 16);
    out.v4 = AllZero(out.bytes, 0, 10) && out.bytes[10] == 0xff && out.bytes[11] == 0xff;
    return out;
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v4) {
    ::inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

AddressClass ClassifyAddress(const IpAddress& addr) {
  const auto& b = addr.bytes;
  // IPv4, and IPv6 forms that carry an IPv4 address: mapped (::ffff:a.b.c.d),
  // compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::a.b.c.d).
  bool mapped = AllZero(b, 0, 10) && b[10] == 0xff && b[11] == 0xff;
  bool compatible = AllZero(b, 0, 12) && !AllZero(b, 12, 15);  // not :: or ::1 (or ::N)
  bool nat64 = b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && AllZero(b, 4, 12);
  if (mapped || compatible || nat64) return ClassifyV4(b[12], b[13], b[14], b[15]);
  if (AllZero(b, 0, 15)) {
    if (b[15] == 0) return AddressClass::kUnspecified;
    if (b[15] == 1) return AddressClass::kLoopback;
    return ClassifyV4(0, 0, 0, b[15]);  // ::N, an IPv4-compatible 0.0.0.N
  }
  // fd00:ec2::254, the EC2 metadata service over IPv6.
  static constexpr std::array<uint8_t, 16> kEc2 = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
                                                   0,    0,    0,    0,    0, 0, 0x02, 0x54};
  if (b == kEc2) return AddressClass::kMetadata;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;
  if ((b[0] & 0xfe) == 0xfc) return AddressClass::kUniqueLocal;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressClass::kPrivate;  // site-local
  return AddressClass::kPublic;
}

std::optional<Cidr> Cidr::Parse(std::string_view text) {
  size_t slash = text.find('/');
  auto addr = IpAddress::Parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  Cidr c;
  c.base = *addr;
  if (slash == std::string_view::npos) return c;  // one address
  std::string_view len = text.substr(slash + 1);
  int prefix = -1;
  auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  int max = addr->v4 ? 32 : 128;
  if (len.empty() || ec != std::errc() || p != len.data() + len.size() || prefix < 0 ||
      prefix > max) {
    return std::nullopt;
  }
  c.prefix = addr->v4 ? prefix + 96 : prefix;
  return c;
}

bool Cidr::Contains(const IpAddress& addr) const {
  int bits = prefix;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((addr.bytes[i] & mask) != (base.bytes[i] & mask)) return false;
  }
  return true;
}

UpstreamPolicy UpstreamPolicy::FromEnvironment() {
  UpstreamPolicy p;
  const char* v = std::getenv("MODELD_ALLOW_PRIVATE_UPSTREAMS");
  std::string allow = v ? Lower(v) : "";
  p.allow_private_ = allow == "1" || allow == "true" || allow == "yes";
  p.AllowProxiesFromEnvironment();
  return p;
}

Status UpstreamPolicy::Allow(std::string_view entry) {
  if (auto c = Cidr::Parse(entry)) {
    cidrs_.push_back(*c);
    return Status::OK();
  }
  if (entry.find('/') == std::string_view::npos && entry.find(':') == std::string_view::npos &&
      IsHostName(entry)) {
    hosts_.push_back(Lower(entry));
    return Status::OK();
  }
  return Status::InvalidArgument("'" + std::string(entry) +
                                 "' is neither a CIDR block (10.0.0.0/8, fd00::/8), an IP "
                                 "address nor a host name");
}

void UpstreamPolicy::AllowProxiesFromEnvironment() {
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    // [scheme://][user[:password]@]host[:port][/...]
    std::string_view s(value);
    if (size_t scheme = s.find("://"); scheme != std::string_view::npos)
      s.remove_prefix(scheme + 3);
    s = s.substr(0, s.find('/'));
    if (size_t at = s.rfind('@'); at != std::string_view::npos) s.remove_prefix(at + 1);
    std::string_view host;
    if (!s.empty() && s.front() == '[') {
      host = s.substr(0, s.find(']') + 1);
    } else {
      host = s.substr(0, s.find(':'));
    }
    if (host.empty()) continue;
    if (auto ip = IpAddress::Parse(host)) {
      cidrs_.push_back(Cidr{*ip, 128});
      continue;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(std::string(host).c_str(), nullptr, &hints, &res) != 0) continue;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (auto ip = IpAddress::FromSockaddr(ai->ai_addr, ai->ai_addrlen)) {
        cidrs_.push_back(Cidr{*ip, 128});
      }
    }
    ::freeaddrinfo(res);
  }
}

std::optional<std::string> UpstreamPolicy::Refusal(const IpAddress& addr,
                                                   std::string_view host) const {
  AddressClass c = ClassifyAddress(addr);
  if (c == AddressClass::kPublic) return std::nullopt;
  for (const auto& cidr : cidrs_) {
    if (cidr.Contains(addr)) return std::nullopt;
  }
  if (!host.empty() && std::find(hosts_.begin(), hosts_.end(), Lower(host)) != hosts_.end()) {
    return std::nullopt;
  }
  if (allow_private_ && c != AddressClass::kMetadata) return std::nullopt;
  return std::string(AddressClassName(c));
}

std::shared_ptr<const UpstreamPolicy> CurrentUpstreamPolicy() {
  MutexLock lock(&g_mu);
  if (!g_policy)
    g_policy = std::make_shared<const UpstreamPolicy>(UpstreamPolicy::FromEnvironment());
  return g_policy;
}

void SetUpstreamPolicy(UpstreamPolicy policy) {
  auto p = std::make_shared<const UpstreamPolicy>(std::move(policy));
  MutexLock lock(&g_mu);
  g_policy = std::move(p);
}

ScopedUpstreamPolicyForTest::ScopedUpstreamPolicyForTest(UpstreamPolicy policy)
    : saved_(CurrentUpstreamPolicy()) {
  SetUpstreamPolicy(std::move(policy));
}

ScopedUpstreamPolicyForTest::~ScopedUpstreamPolicyForTest() {
  MutexLock lock(&g_mu);
  g_policy = saved_;
}

}  // namespace modeld::net
