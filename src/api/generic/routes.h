// The generic model-download API (../shared/seeds/001, dialects.md section 4):
//   POST /model-download, GET /model-download, GET /model-download/{id}/progress,
//   POST /model-download/{id}/cancel|pause|resume, GET /models, GET /models/{name},
//   DELETE /models/{name}, GET /cache, GET /healthz, GET /version.
// A thin translation between that wire format and ModelService / JobManager calls.
#pragma once

#include <string>
#include <vector>

#include "api/http_server.h"
#include "service/job_manager.h"
#include "service/model_service.h"

namespace modeld::api::generic {

struct Context {
  service::ModelService& models;
  service::JobManager& jobs;
  std::string version;
};

std::vector<Route> Routes(Context& ctx);

// The HTTP status for a failed operation, as the seed's table has it.
http::status HttpStatusFor(const Status& s);

}  // namespace modeld::api::generic
