// Pieces OS's ModelApi and ModelsApi (../shared/dialects.md sections 1, 6 and 7; seeds 002
// and 003; issue 13), default port 1000:
//   GET  /model/{model}                      a Model (410 for an unknown model)
//   POST /model/{model}/download             starts (or joins) its download; its Model
//   POST /model/{model}/download/cancel      cancels it; its Model
//   GET  /model/{model}/download/progress    a WebSocket of ModelDownloadProgress frames (a
//                                            plain GET answers one)
//   POST /model/{model}/load | /unload       holds it in memory or lets it go; its Model
//   POST /model/update                       a custom model's new description; its Model
//   GET  /models                             {"iterable": [Model...]}: every model modeld
//                                            knows (installed, downloading, custom, catalog)
//   POST /models/create                      a SeededModel: a custom model; its Model
//   POST /models/{model}/delete              its files and its entry
//   POST /models/{model}/delete/cache        its files, keeping the entry
//   POST /models/unload                      unloads every model
//   GET  /.well-known/health, /.well-known/version
// {model} is a Model.id (a UUID: core/names.h ModelUuid) or a "name:version" reference.
// A thin table over ModelService and JobManager; the wire format is in wire.h.
//
// Thread safety: the handlers run on the server's threads; Context outlives the server.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/dialect.h"
#include "service/job_manager.h"
#include "service/model_service.h"

namespace modeld::api::pieces {

struct Context {
  service::ModelService& models;
  service::JobManager& jobs;
  std::string version;
};

// The routes as a Dialect: Pieces' error bodies, port 1000. The returned routes share an
// index of model ids (what the WebSocket route, which may not touch the store, resolves
// ids with), filled from the store here and kept up to date by every listing and job.
Dialect PiecesDialect(Context& ctx);

}  // namespace modeld::api::pieces
