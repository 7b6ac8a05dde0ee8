// ForwardProxy: an HTTP forward proxy on 127.0.0.1 port 0, as a company network has, for
// tests that every upstream request honours http_proxy / https_proxy. It opens CONNECT
// tunnels (for https: the TLS runs through it end to end) and forwards absolute-URI
// requests (for http: "GET http://host:port/path HTTP/1.1", sent on as "GET /path" with
// Connection: close), and records both.
//
// Thread safety: all methods are safe from any thread. One thread per connection.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tcp_relay.h"

namespace modeld::testing {

class ForwardProxy {
 public:
  ForwardProxy();
  ~ForwardProxy();
  ForwardProxy(const ForwardProxy&) = delete;
  ForwardProxy& operator=(const ForwardProxy&) = delete;
  // Closes the listener and every connection and joins the threads. Idempotent.
  void Stop();

  uint16_t port() const { return listener_->port(); }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  // The "host:port" of each CONNECT the proxy answered 200 (tunnel opened), in order.
  std::vector<std::string> Tunnels() const;
  // The absolute URI of each plain request forwarded, in order.
  std::vector<std::string> Forwarded() const;
  // How many tunnels went to |host_port|.
  int TunnelsTo(const std::string& host_port) const;
  // From now on every CONNECT is answered |status| (407 with Proxy-Authenticate: Basic),
  // as a proxy that wants credentials or blocks the host; 0 tunnels again.
  void RefuseTunnels(int status);

 private:
  void Serve(int fd);

  mutable std::mutex mu_;
  std::vector<std::string> tunnels_;            // GUARDED_BY(mu_)
  std::vector<std::string> forwarded_;          // GUARDED_BY(mu_)
  int refuse_ = 0;                              // GUARDED_BY(mu_): RefuseTunnels
  std::unique_ptr<ThreadedListener> listener_;  // last: stopped first
};

}  // namespace modeld::testing
