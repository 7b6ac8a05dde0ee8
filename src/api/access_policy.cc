#include "api/access_policy.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>

#include "core/text.h"

namespace modeld::api {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The media type of a Content-Type, lower case, without its parameters.
std::string MediaType(std::string_view content_type) {
  return Lower(TrimSpaceTab(content_type.substr(0, content_type.find(';'))));
}

// The canonical text of an IP literal, or "" when |host| is not one.
std::string CanonicalIp(std::string_view host) {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return {};
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    return addr.to_v6().to_v4().to_string();  // ::ffff:127.0.0.1 is 127.0.0.1
  }
  return addr.to_string();
}

bool ValidHostChars(std::string_view host, bool bracketed) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [bracketed](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_') return true;
    return bracketed && (c == ':' || c == '%');
  });
}

}  // namespace

std::optional<HostPort> ParseHostPort(std::string_view authority) {
  authority = TrimSpaceTab(authority);
  HostPort out;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view host = authority.substr(1, close - 1);
    // Brackets hold an IPv6 address only: "[localhost]" is no host a browser sends.
    if (!ValidHostChars(host, true) || host.find(':') == std::string_view::npos)
      return std::nullopt;
    out.host = Lower(host);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return std::nullopt;  // a bare IPv6 address, or garbage
    }
    std::string_view host = authority.substr(0, colon);
    if (!ValidHostChars(host, false)) return std::nullopt;
    out.host = Lower(host);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5) return std::nullopt;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (ec != std::errc() || p != port.data() + port.size() || out.port < 1 || out.port > 65535) {
      return std::nullopt;
    }
  }
  return out;
}

std::string NormalizeOrigin(std::string_view origin) {
  origin = TrimSpaceTab(origin);
  size_t sep = origin.find("://");
  if (sep == std::string_view::npos) return {};
  std::string scheme = Lower(origin.substr(0, sep));
  if (scheme != "http" && scheme != "https") return {};
  std::string_view authority = origin.substr(sep + 3);
  if (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.find_first_of("/?#@\\") != std::string_view::npos) return {};
  auto hp = ParseHostPort(authority);
  if (!hp) return {};
  int port = hp->port ? hp->port : (scheme == "https" ? 443 : 80);
  bool v6 = hp->host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + hp->host + "]" : hp->host) + ":" + std::to_string(port);
}

AccessPolicy::AccessPolicy(AccessPolicyOptions options) : options_(std::move(options)) {
  for (auto& a : options_.listen_addresses) {
    std::string ip = CanonicalIp(a);
    if (ip == "0.0.0.0" || ip == "::") any_address_ = true;
    if (!ip.empty()) a = ip;
  }
  for (auto& h : options_.allowed_hosts) h = Lower(TrimSpaceTab(h));
  for (const auto& o : options_.allowed_origins) {
    std::string n = NormalizeOrigin(o);
    if (!n.empty()) origins_.push_back(std::move(n));
  }
}

bool AccessPolicy::HostAllowed(std::string_view host_header) const {
  if (TrimSpaceTab(host_header).empty()) return true;
  auto hp = ParseHostPort(host_header);
  if (!hp) return false;
  if (hp->host == "localhost") return true;
  if (std::find(options_.allowed_hosts.begin(), options_.allowed_hosts.end(), hp->host) !=
      options_.allowed_hosts.end()) {
    return true;
  }
  std::string ip = CanonicalIp(hp->host);
  if (ip.empty()) return false;  // a name nobody allowed: DNS rebinding looks like this
  if (any_address_) return true;
  return std::find(options_.listen_addresses.begin(), options_.listen_addresses.end(), ip) !=
         options_.listen_addresses.end();
}

bool AccessPolicy::OriginAllowed(std::string_view origin, std::string_view host_header) const {
  if (TrimSpaceTab(origin).empty()) return true;  // not a browser's cross-site request
  std::string o = NormalizeOrigin(origin);
  if (o.empty()) return false;  // "null": sandboxed frames, file:// pages, redirects
  if (std::find(origins_.begin(), origins_.end(), o) != origins_.end()) return true;
  // modeld's own origin: the page was served by modeld under the name it was asked by.
  auto own = ParseHostPort(host_header);
  if (!own) return false;
  for (const char* scheme : {"http", "https"}) {
    int port = own->port ? own->port : (std::string_view(scheme) == "https" ? 443 : 80);
    bool v6 = own->host.find(':') != std::string::npos;
    std::string mine = std::string(scheme) + "://" + (v6 ? "[" + own->host + "]" : own->host) +
                       ":" + std::to_string(port);
    if (o == mine) return true;
  }
  return false;
}

bool AccessPolicy::CorsAllowed(std::string_view origin) const {
  std::string o = NormalizeOrigin(origin);
  return !o.empty() && std::find(origins_.begin(), origins_.end(), o) != origins_.end();
}

bool AccessPolicy::IsFormContentType(std::string_view content_type) {
  return MediaType(content_type) == "application/x-www-form-urlencoded";
}

bool AccessPolicy::IsJsonContentType(std::string_view content_type) {
  std::string m = MediaType(content_type);
  if (m == "application/json") return true;
  // application/merge-patch+json and friends: not a type a form can send either.
  return m.size() > 17 && m.rfind("application/", 0) == 0 &&
         m.compare(m.size() - 5, 5, "+json") == 0;
}

}  // namespace modeld::api
