// The request headers the server checks before any handler runs (api/access_policy.h):
// Host (DNS rebinding), Origin (cross-site requests), Content-Type (JSON only):
// api::ParseHostPort, NormalizeOrigin and AccessPolicy's decisions.
//
// Input: HOST '\n' ORIGIN '\n' CONTENT-TYPE (missing lines are empty).
//
// Invariants: a parsed authority has a lower-case host of the allowed characters and a
// port in 1..65535 (0: none), and prints and parses back to itself; a normalised origin
// is http(s)://host:port and its own normal form. A server on 127.0.0.1 answers only an
// empty Host, localhost, or a host that is the address 127.0.0.1; with no
// --allowed-origin it lets a request with an Origin run only when that origin names the
// Host it was sent to, and never allows CORS; only application/json and
// application/...+json are JSON (never a type a form can send).
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "api/access_policy.h"
#include "fuzz_check.h"

namespace {

std::string_view Line(std::string_view* in) {
  size_t nl = in->find('\n');
  std::string_view line = in->substr(0, nl);
  in->remove_prefix(nl == std::string_view::npos ? in->size() : nl + 1);
  return line;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Authority(const modeld::api::HostPort& hp) {
  bool v6 = hp.host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + hp.host + "]" : hp.host;
  if (hp.port != 0) out += ":" + std::to_string(hp.port);
  return out;
}

// |host| (an IPv6 zone dropped) is an IPv4 or IPv6 address.
bool IsIpLiteral(std::string host) {
  host = host.substr(0, host.find('%'));
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// |host| (an IPv6 zone dropped) is 127.0.0.1 or ::ffff:127.0.0.1.
bool Is127001(std::string host) {
  host = host.substr(0, host.find('%'));
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1)
    return buf[0] == 127 && buf[1] == 0 && buf[2] == 0 && buf[3] == 1;
  static const unsigned char kMapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  return inet_pton(AF_INET6, host.c_str(), buf) == 1 && std::equal(buf, buf + 16, kMapped);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using api::AccessPolicy;
  std::string_view in = fuzz::AsText(data, size);
  std::string_view host = Line(&in), origin = Line(&in), content_type = Line(&in);

  auto hp = api::ParseHostPort(host);
  if (hp) {
    FUZZ_CHECK(!hp->host.empty() && hp->host == Lower(hp->host));
    FUZZ_CHECK(std::all_of(hp->host.begin(), hp->host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
             c == ':' || c == '%';
    }));
    FUZZ_CHECK(hp->port >= 0 && hp->port <= 65535);
    auto again = api::ParseHostPort(Authority(*hp));
    FUZZ_CHECK(again && again->host == hp->host && again->port == hp->port);
  }
  for (std::string_view o : {origin, host}) {
    std::string n = api::NormalizeOrigin(o);
    if (n.empty()) continue;
    FUZZ_CHECK(n.rfind("http://", 0) == 0 || n.rfind("https://", 0) == 0);
    FUZZ_CHECK(api::NormalizeOrigin(n) == n);
    std::string port = n.substr(n.rfind(':') + 1);
    FUZZ_CHECK(!port.empty() &&
               std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }));
  }

  static const AccessPolicy local(api::AccessPolicyOptions{{"127.0.0.1"}, {}, {}});
  if (local.HostAllowed(host) && !Trim(host).empty()) {
    FUZZ_CHECK(hp && (hp->host == "localhost" || Is127001(hp->host)));
  }
  if (local.OriginAllowed(origin, host) && !Trim(origin).empty()) {
    // Only modeld's own origin: the page came from the host the request was sent to.
    auto from = api::ParseHostPort(
        api::NormalizeOrigin(origin).substr(api::NormalizeOrigin(origin).find("://") + 3));
    FUZZ_CHECK(from && hp && from->host == hp->host);
  }
  FUZZ_CHECK(!local.CorsAllowed(origin));

  static const AccessPolicy with_origin(
      api::AccessPolicyOptions{{"0.0.0.0"}, {}, {"http://App.example:8080/"}});
  if (with_origin.CorsAllowed(origin))
    FUZZ_CHECK(api::NormalizeOrigin(origin) == "http://app.example:8080");
  if (with_origin.HostAllowed(host) && !Trim(host).empty() && hp->host != "localhost") {
    FUZZ_CHECK(hp && IsIpLiteral(hp->host));  // a name: only localhost or --allowed-host
  }

  if (AccessPolicy::IsJsonContentType(content_type)) {
    std::string media = Lower(Trim(content_type.substr(0, content_type.find(';'))));
    FUZZ_CHECK(media.rfind("application/", 0) == 0 && media.size() >= 16 &&
               media.compare(media.size() - 4, 4, "json") == 0);
    FUZZ_CHECK(media != "application/x-www-form-urlencoded" && media != "multipart/form-data" &&
               media != "text/plain");
  }
  return 0;
}
