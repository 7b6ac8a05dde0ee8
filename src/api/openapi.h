// The OpenAPI 3.1 description of what a listener answers (GET /openapi.json), generated from
// the dialects' route tables as the router serves them (ListenerRoutes), so it cannot list
// a route the server lacks or miss one it has:
//   paths       each route's pattern under each prefix of its dialect, ":id" as "{id}" and
//               a last "*name" as "{name}" (noted: it may contain '/'); routes several
//               dialects answer as one (merged) are one operation tagged with each dialect
//   operations  operationId (first dialect, method, path), summary (Route::summary), tags
//               (the dialects answering), path and query parameters (Route::query), the
//               request body's schema where the table states one (Route::body_schema),
//               streams (text/event-stream, application/x-ndjson, a WebSocket upgrade: 101)
//   security    the bearer token for every route but public ones (security: []), and the
//               ?token= query parameter for streams (browsers cannot set headers on them)
//   errors      each dialect's error shape as a schema in components, inferred from what
//               its error_body writes, and the response every operation may answer with
// Answers' bodies are not described: the tables do not state them, and a schema written by
// hand would drift.
//
// Thread safety: OpenApiDocument is a pure function; an OpenApiDocuments is immutable once
// built and may be read from any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api/dialect.h"
#include "core/status.h"

namespace modeld::api {

// The document (JSON text) of a listener speaking |dialects| (in order: the first one's
// error shape is the listener's own); info.version is |version|.
std::string OpenApiDocument(const std::vector<const Dialect*>& dialects,
                            const std::string& version);

// The documents a server answers GET /openapi.json with, built once at start-up: one for
// every set of dialects a listener of |listen| speaks (ServerOptions::listen; no dialects:
// every one), and one for each dialect alone.
class OpenApiDocuments {
 public:
  OpenApiDocuments(const std::vector<Dialect>& dialects, const std::vector<std::string>& listen,
                   const std::string& version);

  // The document of a listener speaking |listener| (Params::listener_dialects; null or
  // empty: every dialect), or when |dialect| is not empty, of that one of its dialects.
  // NotFound when |dialect| is not spoken there (or no document was built for |listener|).
  Result<const std::string*> Find(const std::vector<std::string>* listener,
                                  const std::string& dialect) const;

 private:
  std::vector<std::string> all_;                    // every dialect's name, in order
  std::map<std::string, std::string> by_listener_;  // names joined by ',' -> document
  std::map<std::string, std::string> by_dialect_;
};

}  // namespace modeld::api
