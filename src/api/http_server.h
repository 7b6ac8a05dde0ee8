// HttpServer: HTTP/1.1 over Boost.Beast, on an Asio io_context run by a small thread pool,
// a strand per connection (Beast's advanced-server shape).
//
// Requests are matched against a route table (method + "/path/:param"); a handler gets
// the request and a Responder it may call at once or later from any thread (long polls,
// wait=true). Cross-cutting rules run before any handler: the optional bearer token
// (every path but GET /healthz), CORS, a body limit, header and idle timeouts, and an
// access log line per request.
//
// Thread safety: Start/Stop from one thread; handlers run on connection strands.
#pragma once

#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace modeld::api {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Params {
  std::map<std::string, std::string> path;   // from ":name" segments
  std::map<std::string, std::string> query;  // decoded
  std::string Query(const std::string& key, const std::string& def = "") const {
    auto it = query.find(key);
    return it == query.end() ? def : it->second;
  }
};

// Sends the response for one request. Copyable; call exactly once, from any thread.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(const Request&, const Params&, Responder)>;

// A one-way stream of messages to a client: Server-Sent Events or a WebSocket.
// Send never blocks: each stream keeps a queue in which a message replaces a waiting one
// with the same key (progress coalesces per job), while an empty key is never dropped
// (state changes, terminal events). A slow client thus loses intermediate progress only.
// Thread safety: all methods are safe from any thread.
class EventStream {
 public:
  virtual ~EventStream() = default;
  virtual void Send(const std::string& key, std::string data) = 0;
  // Ends the stream after the queued messages are written.
  virtual void Close() = 0;
  virtual bool closed() const = 0;
  // |fn| runs once, when the client goes away or the stream is closed.
  virtual void OnClose(std::function<void()> fn) = 0;
};
using StreamHandler =
    std::function<void(const Request&, const Params&, std::shared_ptr<EventStream>)>;

struct Route {
  http::verb method;
  std::string pattern;  // "/model-download/:id/progress"
  Handler handler;
  // For streaming routes instead of |handler|: SSE (GET), or a WebSocket upgrade when
  // |websocket| is set. Streams may carry the token as ?token= (browsers cannot set
  // headers on EventSource or WebSocket).
  StreamHandler stream = nullptr;
  bool websocket = false;
};

struct ServerOptions {
  std::vector<std::string> listen = {"127.0.0.1:8000"};  // "host:port", "[::1]:port"
  std::string token;                                    // empty: no auth
  size_t body_limit = 1 << 20;
  // I/O threads, each with its own event loop; 0: half the CPUs (at least 1), leaving
  // the rest to downloads and clients. On two cores one thread answers the most (bench/).
  int threads = 0;
  std::chrono::seconds header_timeout{30};
  std::chrono::seconds idle_timeout{120};
  bool access_log = true;
};

// A JSON response: {"detail": message} for errors, as the generic API expects.
Response JsonResponse(http::status status, const std::string& json_body);
Response ErrorResponse(http::status status, const std::string& detail);

class HttpServer {
 public:
  HttpServer(ServerOptions options, std::vector<Route> routes);
  ~HttpServer();

  // Binds every listen address and starts serving. InvalidArgument for a bad address,
  // Unavailable if a port is taken.
  Status Start();
  // Stops accepting, lets responses in flight finish (up to |grace|), then stops.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // The bound "host:port" of each listener (port 0 resolved).
  std::vector<std::string> bound() const;
  std::vector<uint16_t> ports() const;

  struct Impl;  // internal; public only so the connection sessions in the .cc can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace modeld::api
