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
#include <vector>

#include "core/file_source.h"

namespace modeld::api {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Params {
  std::map<std::string, std::string> path;   // from ":name" segments
  std::map<std::string, std::string> query;  // decoded
  // The dialects of the listener the request came on, in its order (the router's; null
  // outside a server). Lives as long as the server.
  const std::vector<std::string>* listener_dialects = nullptr;
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

// The answer of a route that may send a file (Route::file_handler): |head|, and for a body
// the bytes [offset, end) of |source|, written with sendfile(2) as they become readable
// (never through memory). With a source, head's Content-Length is set to end - offset and
// its body must be empty; if the source fails midway the connection is closed, short of
// that length. Without one, |head| is the whole answer (a HEAD's Content-Length is kept).
struct FileReply {
  Response head;
  std::shared_ptr<FileSource> source;
  uint64_t offset = 0, end = 0;
};
using FileResponder = std::function<void(FileReply)>;
using FileHandler = std::function<void(const Request&, const Params&, FileResponder)>;

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
// How a stream route answers: Server-Sent Events (text/event-stream), newline-delimited
// JSON (application/x-ndjson, Ollama's streamed POSTs), or a WebSocket upgrade.
enum class StreamKind { kSse, kNdjson, kWebSocket };

// Given to a stream handler, which calls exactly one of Reject, Start and Plain, at once,
// on the thread it was called on: Reject answers with a plain response (an unknown job is
// a 404 in the dialect's own error shape); Start sends the stream's header and returns the
// stream; Plain hands the request to the route's plain |handler| on its lane (Ollama's
// "stream": false), and is false (nothing decided) when the route has none.
// Post runs |fn| on the network pool (false when it is full or stopping): for the slow
// start of a stream (resolving a model), which the handler itself must not wait for.
struct StreamReply {
  std::function<void(Response)> Reject;
  std::function<std::shared_ptr<EventStream>()> Start;
  std::function<bool()> Plain;
  std::function<bool(std::function<void()>)> Post;
};
// Stream handlers run on the connection's I/O thread and must not block: long work is
// started elsewhere and reports into the stream.
using StreamHandler = std::function<void(const Request&, const Params&, StreamReply&)>;

// Where a handler runs. I/O threads must never wait: a handler that touches the store
// (SQLite, the file system) or the network says so, and the server runs it on a worker
// pool of that kind; the reply goes out when it answers.
enum class Lane {
  kInline,   // fast and in memory: runs on the connection's I/O thread
  kStore,    // registry queries, file system walks, removals (a few threads)
  kNetwork,  // may wait on an upstream: resolving a model, probing a URL (many threads)
};

// A query parameter a handler reads, for the OpenAPI description (api/openapi.h).
struct QueryParam {
  std::string name;
  std::string description;
};

struct Route {
  http::verb method;
  std::string pattern;  // "/model-download/:id/progress"; a last "*name" takes the rest
  // What the route does, in a short line: its summary in GET /openapi.json. Every route of
  // every dialect has one (tests/integration/openapi_routes_test.cc).
  std::string summary;
  // A plain answer. On a WebSocket route, what a GET without an upgrade gets (null: 426).
  Handler handler;
  // For streaming routes: the stream's kind and handler. Streams may carry the token as
  // ?token= (browsers cannot set headers on EventSource or WebSocket).
  StreamHandler stream = nullptr;
  StreamKind stream_kind = StreamKind::kSse;
  Lane lane = Lane::kInline;  // for |handler|
  bool public_path = false;   // answered without the bearer token (health checks)
  // For the OpenAPI description, where the table states them: the query parameters the
  // handlers read, and a JSON Schema (as JSON text) of the request body ("": none given).
  std::vector<QueryParam> query = {};
  std::string body_schema = {};
  // Instead of |handler|: an answer that may be a file (FileReply), run on |lane|.
  FileHandler file_handler = nullptr;
  // Also takes application/x-www-form-urlencoded bodies (the Hub's paths-info, which
  // huggingface_hub posts as a form); the handler reads the Content-Type. The Origin
  // check holds as for any POST, so a page on another site still cannot send one.
  bool form_body = false;
};

// A JSON response with |json_body| as it is.
Response JsonResponse(http::status status, const std::string& json_body);
// {"detail": message}: the generic API's error body, and the server's default.
Response ErrorResponse(http::status status, const std::string& detail);

}  // namespace modeld::api
