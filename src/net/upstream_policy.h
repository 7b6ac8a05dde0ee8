// UpstreamPolicy: which network addresses modeld may connect to when it fetches from an
// upstream (a download_url, a catalog file, the Hub and its CDN, every redirect hop).
//
// A URL that leads to loopback, link-local, private, CGNAT, unique-local or unspecified
// addresses, or to a cloud metadata service, is refused by default (SSRF): a client of
// `modeld serve` must not be able to make it fetch http://169.254.169.254/ or a service
// on 127.0.0.1 and store the answer where the client can read it. The check is made on
// the address a connection is actually opened to (net/curl_setup.h installs it as
// libcurl's open-socket callback), so DNS answers and redirects cannot get around it.
//
// The policy is process-wide: the composition root sets it once at start-up
// (--allow-private-upstreams, --allow-upstream CIDR_OR_HOST); until then it is read from
// the environment (MODELD_ALLOW_PRIVATE_UPSTREAMS=1 allows every address).
//
// Proxies: when http_proxy / https_proxy / all_proxy is set, libcurl connects to the
// proxy, not to the target, so the proxy's own addresses are allowed and the target is
// the proxy's business (modeld cannot see where the proxy connects).
//
// Thread safety: an UpstreamPolicy is a value, immutable once installed; the global
// accessors are safe from any thread.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace modeld::net {

// What kind of address an IP address is, for the upstream policy.
enum class AddressClass {
  kPublic,
  kLoopback,     // 127.0.0.0/8, ::1
  kLinkLocal,    // 169.254.0.0/16, fe80::/10
  kPrivate,      // 10/8, 172.16/12, 192.168/16 (and fec0::/10, deprecated site-local)
  kSharedCgnat,  // 100.64.0.0/10
  kUniqueLocal,  // fc00::/7
  kUnspecified,  // 0.0.0.0/8, ::
  kMetadata,     // 169.254.169.254, fd00:ec2::254: cloud instance metadata
};
std::string_view AddressClassName(AddressClass c);  // "loopback", "cloud metadata", ...

// An IPv4 or IPv6 address, IPv4 kept as an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;  // the address is IPv4 (or was written as IPv4-mapped IPv6)

  static std::optional<IpAddress> Parse(std::string_view text);  // "1.2.3.4", "::1", "[::1]"
  static std::optional<IpAddress> FromSockaddr(const sockaddr* addr, socklen_t len);
  std::string ToString() const;  // "1.2.3.4" for IPv4 (mapped or not), else RFC 5952 text
};

// The class of |addr|. IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96) and NAT64
// (64:ff9b::/96) IPv6 addresses are classified by the IPv4 address they carry.
AddressClass ClassifyAddress(const IpAddress& addr);

// An address block: "10.0.0.0/8", "fd00::/8", or one address ("192.168.1.5").
struct Cidr {
  IpAddress base;
  int prefix = 128;  // in IPv6 bits (an IPv4 /24 is stored as /120)
  static std::optional<Cidr> Parse(std::string_view text);
  bool Contains(const IpAddress& addr) const;
};

class UpstreamPolicy {
 public:
  // Refuses every non-public address.
  UpstreamPolicy() = default;
  // The default, with MODELD_ALLOW_PRIVATE_UPSTREAMS=1 allowing every address, and the
  // proxies of the environment allowed (AllowProxiesFromEnvironment).
  static UpstreamPolicy FromEnvironment();

  void set_allow_private(bool allow) { allow_private_ = allow; }
  bool allow_private() const { return allow_private_; }

  // Allows a CIDR block ("10.1.0.0/16", "fd12::/16"), one address, or a host name (any
  // address it resolves to, when a URL names exactly that host; case-insensitive).
  // InvalidArgument if |entry| is none of these.
  Status Allow(std::string_view entry);

  // Allows the addresses of the proxies named by http_proxy, https_proxy, all_proxy (any
  // case): IP literals as they are, host names as resolved now (a blocking lookup).
  void AllowProxiesFromEnvironment();

  // Why a connection to |addr| for a URL whose host is |host| is refused ("loopback",
  // "cloud metadata", ...), or nullopt when it is allowed. Metadata addresses are refused
  // even with allow_private, unless allowed by CIDR or host.
  std::optional<std::string> Refusal(const IpAddress& addr, std::string_view host) const;

  bool has_hosts() const { return !hosts_.empty(); }

 private:
  bool allow_private_ = false;
  std::vector<Cidr> cidrs_;
  std::vector<std::string> hosts_;  // lower-case
};

// The process-wide policy. Until SetUpstreamPolicy is called it is
// UpstreamPolicy::FromEnvironment(), built on first use.
std::shared_ptr<const UpstreamPolicy> CurrentUpstreamPolicy();
void SetUpstreamPolicy(UpstreamPolicy policy);

// The hint every refusal ends with.
inline constexpr std::string_view kAllowPrivateHint =
    "modeld does not fetch from private or local addresses unless started with "
    "--allow-private-upstreams (or --allow-upstream CIDR_OR_HOST for one network or host)";

// Test hook: installs |policy| for the lifetime of this object, then restores the last one.
class ScopedUpstreamPolicyForTest {
 public:
  explicit ScopedUpstreamPolicyForTest(UpstreamPolicy policy);
  ~ScopedUpstreamPolicyForTest();
  ScopedUpstreamPolicyForTest(const ScopedUpstreamPolicyForTest&) = delete;
  ScopedUpstreamPolicyForTest& operator=(const ScopedUpstreamPolicyForTest&) = delete;

 private:
  std::shared_ptr<const UpstreamPolicy> saved_;
};

}  // namespace modeld::net
