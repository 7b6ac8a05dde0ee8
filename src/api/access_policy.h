// AccessPolicy: the requests a web page could make a user's browser send to modeld, told
// apart from the ones its users send, before any handler runs.
//
//   Host   DNS rebinding gives an attacker's page modeld's own origin under the attacker's
//          name (Host: evil.example). Only localhost, an address modeld listens on, and
//          names given with --allowed-host are answered.
//   Origin A page on another site can send simple requests (form or text/plain POSTs,
//          no preflight) and open WebSockets and EventSources. State-changing requests
//          and streams from an Origin that is neither modeld's own nor one given with
//          --allowed-origin are refused.
//   CORS   Only origins given with --allowed-origin may read answers cross-origin.
// The server also requires application/json for request bodies (IsJsonContentType), so
// a cross-site form or text/plain POST never reaches a handler even without an Origin;
// the one exception, a route that reads forms (Route::form_body), changes nothing.
//
// Thread safety: immutable after construction; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::api {

struct AccessPolicyOptions {
  // The IP addresses modeld listens on ("127.0.0.1", "::1"); "0.0.0.0" or "::" accept
  // any IP literal in Host.
  std::vector<std::string> listen_addresses;
  // Host names answered besides localhost (--allowed-host), without port.
  std::vector<std::string> allowed_hosts;
  // Origins allowed to drive and read modeld from a browser (--allowed-origin), as
  // "scheme://host[:port]".
  std::vector<std::string> allowed_origins;
};

// A Host header or an origin's authority split into a lower-cased host (IPv6 without
// brackets) and a port (0 when absent). nullopt when malformed.
struct HostPort {
  std::string host;
  int port = 0;
};
std::optional<HostPort> ParseHostPort(std::string_view authority);

class AccessPolicy {
 public:
  explicit AccessPolicy(AccessPolicyOptions options);

  // Whether a request with this Host header value is answered. An absent Host (HTTP/1.0)
  // is allowed: browsers always send one.
  bool HostAllowed(std::string_view host_header) const;
  // Whether a state-changing request or stream with this Origin (empty: no Origin header,
  // not a browser's cross-site request) may run. |host_header| has passed HostAllowed.
  bool OriginAllowed(std::string_view origin, std::string_view host_header) const;
  // Whether answers may carry Access-Control-Allow-Origin: |origin| (a configured origin).
  bool CorsAllowed(std::string_view origin) const;

  // "application/json", with parameters ("; charset=utf-8") and any case.
  static bool IsJsonContentType(std::string_view content_type);
  // "application/x-www-form-urlencoded", with parameters and any case (Route::form_body).
  static bool IsFormContentType(std::string_view content_type);
  // Whether a request body of |content_type| may reach a handler: JSON, or a form where
  // the route reads one (|form_ok|).
  static bool BodyTypeAllowed(std::string_view content_type, bool form_ok) {
    return IsJsonContentType(content_type) || (form_ok && IsFormContentType(content_type));
  }

 private:
  AccessPolicyOptions options_;
  bool any_address_ = false;
  std::vector<std::string> origins_;  // normalised allowed origins
};

// "scheme://host:port" in lower case with the default port filled in, or "" when |origin|
// is not an http(s) origin ("null", a path, garbage).
std::string NormalizeOrigin(std::string_view origin);

}  // namespace modeld::api
