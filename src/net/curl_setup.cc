#include "net/curl_setup.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <exception>

#include "net/http.h"

namespace modeld::net {

namespace {

// The host of |url| as it names it, lower-case ("" if it does not parse).
std::string UrlHost(std::string_view url) {
  auto r = boost::urls::parse_absolute_uri(url);
  if (!r) return {};
  std::string host(r->encoded_host());
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return host;
}

// "host:port" of |url|, the port filled in from the scheme ("" if it does not parse).
std::string UrlHostPort(std::string_view url) {
  auto r = boost::urls::parse_absolute_uri(url);
  if (!r) return {};
  std::string port = r->has_port() ? std::string(r->port()) : r->scheme() == "http" ? "80" : "443";
  return std::string(r->encoded_host()) + ":" + port;
}

// The Status of a transfer whose proxy answered its CONNECT with |status| (>= 300).
Status ProxyRefusal(std::string_view context, long status, const std::string& url) {
  const std::string target = UrlHostPort(url);
  const std::string var = url.rfind("http:", 0) == 0 ? "http_proxy" : "https_proxy";
  const std::string head = std::string(context) + ": the proxy ";
  const std::string code = " (HTTP " + std::to_string(status) + ")";
  if (status == 407) {
    return Status::PermissionDenied(head + "wants credentials" + code + " to open a tunnel to " +
                                    target + ": give them in the proxy's URL, " + var +
                                    "=http://USER:PASSWORD@PROXY:PORT");
  }
  if (status >= 400 && status < 500) {
    return Status::PermissionDenied(head + "refused a tunnel to " + target + code +
                                    ": its policy blocks that host or port; ask its "
                                    "administrators, or list the host in no_proxy to go direct");
  }
  return Status::Unavailable(head + "could not open a tunnel to " + target + code);
}

}  // namespace

curl_socket_t UpstreamGuard::OpenSocket(void* user, curlsocktype purpose,
                                        struct curl_sockaddr* address) {
  auto& guard = *static_cast<UpstreamGuard*>(user);
  try {
    if (purpose == CURLSOCKTYPE_IPCXN && guard.policy_) {
      auto ip = IpAddress::FromSockaddr(&address->addr, static_cast<socklen_t>(address->addrlen));
      // The URL this connection is for: curl moves the effective URL to each redirect hop
      // before it connects.
      char* eff = nullptr;
      curl_easy_getinfo(guard.easy_, CURLINFO_EFFECTIVE_URL, &eff);
      std::string url = eff ? eff : "";
      std::optional<std::string> why;
      if (!ip) {
        why = "an unknown address family";
      } else {
        why = guard.policy_->Refusal(*ip, guard.policy_->has_hosts() ? UrlHost(url) : "");
      }
      if (why) {
        if (guard.refusal_.ok()) {
          guard.refusal_url_ = url;
          guard.refusal_ = Status::PermissionDenied(
              "refused to connect to " + (ip ? ip->ToString() : std::string("?")) + " (" + *why +
              ") for " + UrlForMessages(url) + ": " + std::string(kAllowPrivateHint));
        }
        return CURL_SOCKET_BAD;
      }
    }
    return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  } catch (const std::exception& e) {  // never through libcurl
    if (guard.refusal_.ok())
      guard.refusal_ = Status::Internal(std::string("open socket: ") + e.what());
    return CURL_SOCKET_BAD;
  }
}

namespace {
std::atomic<bool> g_abort_blocking{false};

int AbortCheck(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return g_abort_blocking.load(std::memory_order_relaxed) ? 1 : 0;
}
}  // namespace

void AbortBlockingRequests() { g_abort_blocking = true; }

void SetUpUpstreamHandle(CURL* e, const UpstreamRequestOptions& o, UpstreamGuard* guard) {
  EnsureCurlGlobalInit();
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, o.follow_redirects ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(e, CURLOPT_USERAGENT, kUserAgent);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o.verify_ssl ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o.verify_ssl ? 2L : 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  if (o.timeout.count() > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  if (o.stall_timeout.count() > 0) {
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                     std::max<long>(1, static_cast<long>(o.stall_timeout.count() / 1000)));
  }
  if (o.abortable) {
    // libcurl calls this at least once a second, also while waiting on a silent peer.
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &AbortCheck);
  }
  guard->ca_bundle_ = CurrentCaBundle();
  ApplyCaBundle(e, *guard->ca_bundle_);
  guard->error_[0] = '\0';
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, guard->error_);
  guard->easy_ = e;
  guard->policy_ = CurrentUpstreamPolicy();
  guard->refusal_ = Status::OK();
  guard->refusal_url_.clear();
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &UpstreamGuard::OpenSocket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, guard);
}

Status UpstreamStatus(std::string_view context, CURLcode code, const UpstreamGuard& guard) {
  if (code == CURLE_COULDNT_CONNECT && !guard.refusal_.ok()) {
    // Only when the refused connection was for the URL the transfer ended at: a refused
    // address of an earlier hop (another of its addresses connected) is not the cause.
    char* eff = nullptr;
    curl_easy_getinfo(guard.easy_, CURLINFO_EFFECTIVE_URL, &eff);
    if (eff && guard.refusal_url_ == eff) return guard.refusal_;
  }
  if (IsTlsFailure(code)) {
    return TlsFailureStatus(context, code, guard.easy_, guard.error_,
                            guard.ca_bundle_ ? *guard.ca_bundle_ : CaBundle{});
  }
  long connect_status = 0;
  if (code != CURLE_OK && guard.easy_ &&
      curl_easy_getinfo(guard.easy_, CURLINFO_HTTP_CONNECTCODE, &connect_status) == CURLE_OK &&
      connect_status >= 300) {
    char* eff = nullptr;
    curl_easy_getinfo(guard.easy_, CURLINFO_EFFECTIVE_URL, &eff);
    return ProxyRefusal(context, connect_status, eff ? eff : "");
  }
  return CurlStatus(context, code);
}

}  // namespace modeld::net
