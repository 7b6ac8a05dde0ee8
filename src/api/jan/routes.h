// Jan's API (0.4) and cortex's (Jan 0.5) (../shared/dialects.md sections 3, 6 and 7; seed 000; issue 14),
// default port 1337. (Being written: see issue 14.)
//
// Thread safety: the handlers run on the server's threads; Context outlives the server.
#pragma once

#include <string>

#include "api/dialect.h"
#include "service/job_manager.h"
#include "service/model_service.h"

namespace modeld::api::jan {

struct Context {
  service::ModelService& models;
  service::JobManager& jobs;
  std::string version;
};

Dialect JanDialect(Context& ctx);

}  // namespace modeld::api::jan
