// LM Studio's REST API v1 (../shared/dialects.md sections 2, 6 and 7; seed 004; issue 14),
// default port 1234:
//   POST /api/v1/models/download                {model, quantization?}: starts (or joins)
//                                               a download; the job object, or
//                                               {"status": "already_downloaded"}
//   GET  /api/v1/models/download/status/:job_id the job object (404 for an unknown job)
//   GET  /api/v1/models                         {"models": [...]}: the installed models
//   POST /api/v1/models/load                    {model, context_length?, ...,
//                                               echo_load_config?}: maps it in memory
//   POST /api/v1/models/unload                  {instance_id}: lets it go
//   GET  /api/v0/models                         the legacy listing {"object": "list", "data"}
// "model" on download is a catalog id (publisher/name), an org/name on the Hub or a link to
// a Hub repository; without a quantization, a Hub repository's GGUF quantization is the
// one LM Studio picks (ModelService::DefaultQuantization), said in the reply. A model's key
// and its loaded instance's id are its reference (wire.h KeyFor). A thin table over
// ModelService and JobManager; the wire format is in wire.h.
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

// The routes as a Dialect: LM Studio's error bodies, port 1234.
Dialect LmStudioDialect(Context& ctx);

}  // namespace modeld::api::lmstudio
