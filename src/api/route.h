// The vocabulary of HTTP routes: requests and responses, path parameters, handlers that
// answer now or later, event streams, and the route table entry that ties them together.
//
// Thread safety: plain values; a Responder and an EventStream may be used from any thread.
#pragma once

#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

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
  // The value of path segment ":|key|"; "" when the route has none.
  const std::string& Path(const std::string& key) const {
    static const std::string kEmpty;
    auto it = path.find(key);
    return it == path.end() ? kEmpty : it->second;
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

// Where a handler runs. I/O threads must never wait: a handler that touches the store
// (SQLite, the file system) or the network says so, and the server runs it on a worker
// pool of that kind; the reply goes out when it answers.
enum class Lane {
  kInline,   // fast and in memory: runs on the connection's I/O thread
  kStore,    // registry queries, file system walks, removals (a few threads)
  kNetwork,  // may wait on an upstream: resolving a model, probing a URL (many threads)
};

struct Route {
  http::verb method;
  std::string pattern;  // "/model-download/:id/progress"; a last "*name" takes the rest
  Handler handler;
  // For streaming routes instead of |handler|: SSE (GET), or a WebSocket upgrade when
  // |websocket| is set. Streams may carry the token as ?token= (browsers cannot set
  // headers on EventSource or WebSocket).
  StreamHandler stream = nullptr;
  bool websocket = false;
  Lane lane = Lane::kInline;
  bool public_path = false;  // answered without the bearer token (health checks)
};

// A JSON response with |json_body| as it is.
Response JsonResponse(http::status status, const std::string& json_body);
// {"detail": message}: the generic API's error body, and the server's default.
Response ErrorResponse(http::status status, const std::string& detail);

}  // namespace modeld::api
