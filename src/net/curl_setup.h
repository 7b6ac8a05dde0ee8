// The one place libcurl easy handles are set up, so every request modeld makes to an
// upstream (the engine's downloads, probes, Hub API calls, catalog files) has the same
// protocols, redirect cap, user agent, TLS checks, signal handling, timeouts and the
// upstream address policy (net/upstream_policy.h), checked on every connection opened,
// redirect hops included, and the CA bundle in force (net/tls_trust.h).
//
// A connection the policy refuses fails the transfer with CURLE_COULDNT_CONNECT; read
// the reason with UpstreamStatus, which turns it into PermissionDenied naming the
// address, why it was refused and how to allow it. A TLS failure becomes a Status naming
// the host, the certificate problem and the setting that fixes it (TlsFailureStatus).
//
// Thread safety: a handle and its UpstreamGuard belong to one thread at a time.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "net/tls_trust.h"
#include "net/upstream_policy.h"

namespace modeld::net {

inline constexpr long kMaxRedirects = 10;
inline constexpr const char* kUserAgent = "modeld/0.1";

struct UpstreamRequestOptions {
  bool follow_redirects = true;  // up to kMaxRedirects, http and https only
  bool verify_ssl = true;
  std::chrono::milliseconds connect_timeout{30'000};
  std::chrono::milliseconds timeout{0};        // the whole request; 0 = none
  std::chrono::milliseconds stall_timeout{0};  // abort when no byte arrives this long; 0 = never
  // A blocking request (curl_easy_perform on a worker thread) that AbortBlockingRequests
  // ends within about a second. The engine's transfers stop through its own mailbox.
  bool abortable = false;
};

// Ends every abortable request in flight and every later one (CURLE_ABORTED_BY_CALLBACK,
// a Cancelled status): the process is shutting down and must not wait on a silent
// upstream. Safe from any thread; not undone.
void AbortBlockingRequests();

// Per-handle state of the address check. libcurl keeps a pointer to it: it must outlive
// every transfer of the handle it was set up with, and not move.
class UpstreamGuard {
 public:
  UpstreamGuard() = default;
  UpstreamGuard(const UpstreamGuard&) = delete;
  UpstreamGuard& operator=(const UpstreamGuard&) = delete;

 private:
  friend void SetUpUpstreamHandle(CURL*, const UpstreamRequestOptions&, UpstreamGuard*);
  friend Status UpstreamStatus(std::string_view, CURLcode, const UpstreamGuard&);
  static curl_socket_t OpenSocket(void* guard, curlsocktype purpose, struct curl_sockaddr* address);

  CURL* easy_ = nullptr;
  std::shared_ptr<const UpstreamPolicy> policy_;
  Status refusal_;
  std::string refusal_url_;                    // the URL the refused connection was for
  std::shared_ptr<const CaBundle> ca_bundle_;  // the bundle the handle was set up with
  char error_[CURL_ERROR_SIZE] = {};           // CURLOPT_ERRORBUFFER: libcurl's own words
};

// Sets the options common to upstream requests on |easy| (new or curl_easy_reset):
// http/https only (redirects too), redirects followed when asked (at most kMaxRedirects),
// the user agent, TLS verification against the CA bundle in force now (CurrentCaBundle),
// CURLOPT_NOSIGNAL, the timeouts, and the upstream policy in force now as the open-socket
// callback, reporting to |guard| (whose earlier refusal is cleared; libcurl's error buffer
// is |guard|'s too). Proxies come from the environment, as libcurl reads them (http_proxy,
// https_proxy / HTTPS_PROXY, all_proxy, no_proxy, per handle).
// The caller sets the URL, headers and callbacks.
void SetUpUpstreamHandle(CURL* easy, const UpstreamRequestOptions& options, UpstreamGuard* guard);

// The Status of a transfer that ended with |code|: the guard's PermissionDenied when a
// connection was refused, TlsFailureStatus for a TLS failure (IsTlsFailure), the proxy's
// refusal of a CONNECT tunnel (407: PermissionDenied saying where credentials go; other
// 4xx: PermissionDenied; 5xx: Unavailable), else CurlStatus(context, code) (too many
// redirects included).
Status UpstreamStatus(std::string_view context, CURLcode code, const UpstreamGuard& guard);

}  // namespace modeld::net
