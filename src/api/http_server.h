// HttpServer: HTTP/1.1 over Boost.Beast, an io_context per I/O thread, a strand per
// connection (Beast's advanced-server shape).
//
// Each listener speaks one or more Dialects (dialect.h) and writes its own refusals in
// its first dialect's error shape. Every request passes these checks after its header and
// before its body is read, in this order:
//   framing   both Transfer-Encoding and Content-Length, a Transfer-Encoding other than
//             "chunked", or a repeated Content-Length: 400 and the connection closes (a
//             body a proxy would frame differently is never run as a second request);
//             any other malformed request: 400 and close.
//   Host      AccessPolicy::HostAllowed, else 403 (DNS rebinding).
//   CORS      a preflight (OPTIONS) is answered here: 204 for an allowed origin, else 403.
//   token     when set, every route but public ones needs "Authorization: Bearer TOKEN"
//             (streams may pass ?token=), compared in constant time: else 401.
//   route     404 for an unknown path, 405 for a known path with another method.
//   Origin    state-changing methods, WebSocket upgrades and event streams need an
//             allowed Origin (or none): else 403.
//   body      a body of a POST/PUT/PATCH must be application/json (415) and fit the
//             body limit (413, also for chunked bodies and without Expect: 100-continue:
//             the answer is sent, then the rest of the body is read and dropped, up to a
//             bound, before the connection closes, so the client sees it).
// Then the route's handler runs on its Lane: inline on the I/O thread, or on the store or
// network worker pool (route.h); a stream route's handler runs inline and starts an SSE,
// NDJSON or WebSocket stream or rejects the request. HEAD is answered on every GET route
// (the GET's headers, no body). Answers to allowed cross-origin requests carry CORS
// headers for that origin only.
//
// Metrics: every answer is counted, with its latency from the end of the request's header
// to its response being handed to the socket, labelled by the route's pattern (never the
// path: "none" when no route matched), the method and the status; a stream counts once,
// when it starts (200, or 101 for a WebSocket).
//
// Connections: at most ServerOptions::max_connections; past it (and when the process is
// out of file descriptors, using a descriptor kept in reserve) a connection gets one
// answer, "503 Too many connections" or /healthz's 200, and is closed; accept() failing
// with EMFILE backs off instead of spinning.
//
// Thread safety: Start/Stop from one thread; handlers run on connection strands or pool
// threads and may answer from any thread.
// Lifetime: an event stream must not outlive the HttpServer (a WebSocket stream's
// destructor needs its io_context). Whatever publishes into streams from other threads
// holds them weakly (api/common/job_wait.h) and is stopped after Stop() and before the
// HttpServer is destroyed (app/serve.cc: Stop, then the job manager, then the server).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/dialect.h"
#include "api/route.h"
#include "core/metrics.h"
#include "core/status.h"

namespace modeld::api {

struct ServerOptions {
  // "host:port" or "[::1]:port", each optionally "=DIALECT,..." (ParseListenSpec): the
  // dialects spoken there; none: every dialect.
  std::vector<std::string> listen = {"127.0.0.1:8000"};
  std::string token;                         // empty: no auth
  std::vector<std::string> allowed_hosts;    // Host names answered besides localhost
  std::vector<std::string> allowed_origins;  // origins that may drive and read modeld
  size_t body_limit = 1 << 20;
  // I/O threads, each with its own event loop; 0: half the CPUs (at least 1), leaving
  // the rest to downloads and clients. On two cores one thread answers the most (bench/).
  int threads = 0;
  // Open connections served at once; 0: from RLIMIT_NOFILE (leaving room for downloads),
  // at most 10,000.
  int max_connections = 0;
  int store_threads = 4;     // Lane::kStore
  int network_threads = 64;  // Lane::kNetwork: each may wait on a silent upstream
  std::chrono::seconds header_timeout{30};
  std::chrono::seconds idle_timeout{120};
  bool access_log = true;
  // Where answers are counted (modeld_http_requests_total and
  // modeld_http_request_duration_seconds, docs/metrics.md); null: the process's registry.
  metrics::Registry* metrics = nullptr;
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, std::vector<Dialect> dialects);
  // One dialect of |routes| with {"detail"} errors.
  HttpServer(ServerOptions options, std::vector<Route> routes);
  ~HttpServer();

  // Binds every listen address and starts serving. InvalidArgument for a bad address or
  // an unknown dialect, Unavailable if a port is taken.
  Status Start();
  // Stops accepting, lets responses in flight finish (up to |grace|), then stops. Event
  // streams end at once; handlers still running on worker pools finish before it returns.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // The bound "host:port" of each listener (port 0 resolved).
  std::vector<std::string> bound() const;
  std::vector<uint16_t> ports() const;
  // The connection cap in force (ServerOptions::max_connections or its default).
  int max_connections() const;

  struct Impl;  // internal (http_server_impl.h); public so that session.cc can name it

 private:
  std::unique_ptr<Impl> impl_;
};

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
uint64_t RaiseFileLimit();

}  // namespace modeld::api
