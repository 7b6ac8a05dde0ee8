// LM Studio's REST API v1 (../shared/dialects.md sections 2, 6 and 7; seed 004; issue 14),
// default port 1234. (Being written: see issue 14.)
//
// Thread safety: the handlers run on the server's threads; Context outlives the server.
#pragma once

#include <string>

#include "api/dialect.h"
#include "service/job_manager.h"
#include "service/model_service.h"

namespace modeld::api::lmstudio {

struct Context {
  service::ModelService& models;
  service::JobManager& jobs;
  std::string version;
};

Dialect LmStudioDialect(Context& ctx);

}  // namespace modeld::api::lmstudio
