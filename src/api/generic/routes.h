// The generic model-download API (../shared/seeds/001, dialects.md section 4):
//   POST /model-download, GET /model-download, GET /model-download/{id}/progress,
//   POST /model-download/{id}/cancel|pause|resume, DELETE /model-download/{id},
//   GET /model-download/{id}/events (SSE), GET /ws (WebSocket), GET /models,
//   GET /models/{name}, DELETE /models/{name}, GET /cache, GET /catalog, GET /healthz,
//   GET /version, GET /openapi.json, GET /metrics (Prometheus, docs/metrics.md).
// A thin table over ModelService and JobManager calls; the wire format is in wire.h.
//
// Thread safety: the handlers run on the server's threads; Context outlives the server.
#pragma once

#include <string>
#include <vector>

#include "api/dialect.h"
#include "api/openapi.h"
#include "service/job_manager.h"
#include "service/model_service.h"

namespace modeld::api::generic {

struct Context {
  service::ModelService& models;
  service::JobManager& jobs;
  std::string version;
  std::string commit = "unknown";  // the git commit built ("abc1234", "abc1234-dirty")
  std::string build_date;          // UTC, ISO 8601
  // GET /openapi.json's documents, set once the server's dialects are known (null: 404).
  const OpenApiDocuments* openapi = nullptr;
};

std::vector<Route> Routes(Context& ctx);
// The routes as a Dialect: {"detail"} errors, default port 8000.
Dialect GenericDialect(Context& ctx);

}  // namespace modeld::api::generic
