#include "forward_proxy.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace modeld::testing {

namespace {

// Splits "host:port" (or "[v6]:port"); false if malformed.
bool SplitHostPort(const std::string& s, std::string* host, uint16_t* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 >= s.size()) return false;
  *host = s.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  int p = std::atoi(s.c_str() + colon + 1);
  if (p <= 0 || p > 65535 || host->empty()) return false;
  *port = static_cast<uint16_t>(p);
  return true;
}

void Answer(int fd, const std::string& status_line) {
  std::string out =
      "HTTP/1.1 " + status_line + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  SendAll(fd, out.data(), out.size());
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

ForwardProxy::ForwardProxy()
    : listener_(std::make_unique<ThreadedListener>([this](int fd) { Serve(fd); })) {}

ForwardProxy::~ForwardProxy() { Stop(); }

void ForwardProxy::Stop() { listener_->Stop(); }

std::vector<std::string> ForwardProxy::Tunnels() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tunnels_;
}

std::vector<std::string> ForwardProxy::Forwarded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return forwarded_;
}

int ForwardProxy::TunnelsTo(const std::string& host_port) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count(tunnels_.begin(), tunnels_.end(), host_port));
}

void ForwardProxy::RefuseTunnels(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  refuse_ = status;
}

void ForwardProxy::Serve(int fd) {
  int upstream = -1;
  auto finish = [&] {
    if (upstream >= 0) {
      listener_->Untrack(upstream);
      ::close(upstream);
    }
    listener_->Untrack(fd);
    ::close(fd);
  };
  // The request head (a proxy request has no body worth reading before it is forwarded).
  std::string head;
  char c;
  while (head.size() < 64 * 1024 && head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return finish();
    head += c;
  }
  size_t eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) {
    Answer(fd, "400 Bad Request");
    return finish();
  }
  std::string method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
              version = line.substr(sp2 + 1);
  // Opens the connection to |authority| (host:port) and records |target| in |log|; answers
  // the client itself when it cannot.
  auto open_upstream = [&](const std::string& authority, std::vector<std::string>* log) {
    std::string host;
    uint16_t port = 0;
    if (!SplitHostPort(authority, &host, &port)) {
      Answer(fd, "400 Bad Request");
      return false;
    }
    upstream = ConnectTcp(host, port);
    if (upstream < 0 || !listener_->Track(upstream)) {
      Answer(fd, "502 Bad Gateway");
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    log->push_back(target);
    return true;
  };
  if (method == "CONNECT") {
    int refuse = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      refuse = refuse_;
    }
    if (refuse != 0) {
      std::string out = "HTTP/1.1 " + std::to_string(refuse) + " Refused\r\n" +
                        (refuse == 407 ? "Proxy-Authenticate: Basic realm=\"corp\"\r\n" : "") +
                        "Content-Length: 0\r\nConnection: close\r\n\r\n";
      SendAll(fd, out.data(), out.size());
      return finish();
    }
    if (!open_upstream(target, &tunnels_)) return finish();
    const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (SendAll(fd, ok.data(), ok.size())) Relay(fd, upstream);
    return finish();
  }
  // An absolute URI: http://host[:port]/path.
  const std::string scheme = "http://";
  if (Lower(target.substr(0, scheme.size())) != scheme) {
    Answer(fd, "400 Bad Request");
    return finish();
  }
  size_t path_at = target.find('/', scheme.size());
  std::string authority = target.substr(scheme.size(), path_at - scheme.size());
  std::string path = path_at == std::string::npos ? "/" : target.substr(path_at);
  if (authority.find(':') == std::string::npos) authority += ":80";
  if (!open_upstream(authority, &forwarded_)) return finish();
  // The head again in origin form, without the proxy's own headers, one request only.
  std::string out = method + " " + path + " " + version + "\r\n";
  size_t at = eol + 2;
  while (at < head.size()) {
    size_t end = head.find("\r\n", at);
    std::string h = head.substr(at, end - at);
    at = end + 2;
    if (h.empty()) break;
    std::string name = Lower(h.substr(0, h.find(':')));
    if (name == "proxy-connection" || name == "proxy-authorization" || name == "connection")
      continue;
    out += h + "\r\n";
  }
  out += "Connection: close\r\n\r\n";
  if (SendAll(upstream, out.data(), out.size())) Relay(fd, upstream);
  return finish();
}

}  // namespace modeld::testing
