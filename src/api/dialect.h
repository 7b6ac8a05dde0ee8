// A Dialect: one client ecosystem's HTTP API over the service (the generic /model-download
// API, Pieces OS, LM Studio, Jan, Ollama). It is a named route table plus what the server
// needs to speak it: the shape of its error bodies, the path prefixes it is also served
// under, and the port its clients expect (for --compat).
//
// A listener serves one or more dialects. Its transport errors (400, 401, 403, 404, 405,
// 413, 415, 503) are written in the error shape of its first dialect. Where two dialects
// on one listener answer the same method and path (GET /models: {"models"} for the generic
// API, {"iterable"} for Pieces, {"object":"list","data"} for Jan), the reply is one JSON
// object carrying every dialect's keys (the first dialect's value wins a key both use).
//
// Adding a dialect: api/<name>/routes.{h,cc} (the table, handlers that translate to and
// from ModelService and JobManager calls) and wire.{h,cc} (the wire structs and the
// JobState/Status mappings), registered in app/serve.cc's dialect list (docs/architecture.md).
//
// Thread safety: plain values, immutable once handed to the server.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/route.h"
#include "core/status.h"

namespace modeld::api {

using ErrorBody = std::function<Response(http::status, const std::string& message)>;

struct Dialect {
  std::string name;  // "generic", "pieces", "lmstudio", "jan", "ollama"
  std::vector<Route> routes;
  ErrorBody error_body = ErrorResponse;
  // Served under each of these ("" is the routes as written; Jan serves "/v1" too).
  std::vector<std::string> prefixes = {""};
  uint16_t compat_port = 0;  // the port the system's own server uses; 0: none
};

// Where to listen and which dialects to speak there ("127.0.0.1:11434=ollama").
struct ListenSpec {
  std::string address;                // "host:port", "[::1]:port"
  std::vector<std::string> dialects;  // empty: every dialect
};

// Parses "ADDR[=DIALECT,...]". InvalidArgument names what is wrong; dialect names are
// checked by the server against the dialects it has.
Result<ListenSpec> ParseListenSpec(const std::string& spec);

// One route of a listener and the dialects answering it.
struct ListenerRoute {
  Route route;  // what the router runs: |parts| merged, or the first of them alone
  // The dialects answering, in listener order, and each one's own route (prefixed).
  std::vector<const Dialect*> dialects;
  std::vector<Route> parts;
};

// The routes of a listener speaking |dialects| (in order): each route under each of its
// dialect's prefixes; routes that collide (same method and pattern) merged into one whose
// JSON object answers are combined (a colliding stream route is not merged: the first
// dialect's answers alone); the most specific pattern first (a literal segment before a
// ":param" before a "*rest", position by position), else in dialect order.
std::vector<ListenerRoute> ListenerRoutes(const std::vector<const Dialect*>& dialects);
// The route table of ListenerRoutes, for the router.
std::vector<Route> CombineRoutes(const std::vector<const Dialect*>& dialects);

// --compat: a listener on 127.0.0.1 at each dialect's compat_port, speaking only that
// dialect, for every port |listen| does not already use. Returns the specs to add.
std::vector<std::string> CompatListens(const std::vector<Dialect>& dialects,
                                       const std::vector<std::string>& listen);

}  // namespace modeld::api
