// Jan's API (0.4) and cortex's (Jan 0.5) (../shared/dialects.md sections 3, 6 and 7; seed
// 000; issue 14), default port 1337, served under "/v1" and un-prefixed:
//   GET    /models                          {"object": "list", "data": [model.json...]}:
//                                           installed models, downloads, and the "jan"
//                                           catalog's model.json entries (re-read first)
//   POST   /models                          a model.json: saved as a catalog entry
//                                           (<data dir>/catalogs/<id>/model.json); its
//                                           model.json
//   GET    /models/{id}                     its model.json (404 for an unknown id)
//   DELETE /models/{id}                     cancels its download and removes its files
//                                           (a catalog entry stays in its catalog)
//   GET    /models/download/{id}            starts downloading it: 200 {"message":
//                                           "Starting download <id>"}; 200 {"message":
//                                           "Model not found"} for an unknown id (as Jan)
//   GET    /download/getDownloadProgress/{id}  its latest download's DownloadState (404
//                                           {"message": "Download progress not found"})
//   PUT    /models/{id}/start | /stop       loads / unloads it ({"message": "Started
//   POST   /models/start | /stop            successfully!"} / "Stopped successfully!");
//                                           the POSTs name it as {"model"}
//   POST   /models/pull                     cortex: {"model", "id"?}: starts a download;
//                                           {"message": "Model start downloading!",
//                                           "task": {"id": <model id>, "type", "items"}}
//   DELETE /models/pull                     cortex: {"taskId"}: cancels it
//   GET    /events                          cortex: a WebSocket broadcasting every
//                                           download's {"type", "task"} frames
// {id} is a Jan id (wire.h: the reference without ":latest"); one holding '/' (a Hub
// repository) is written %2F or, where the route ends with it, as it is.
//
// On a listener shared with the generic API, the un-prefixed GET and DELETE /models/{id}
// are one route with the generic API's /models/{name}: both run, the generic answer first
// (JSON objects merged on success); "/v1/..." is Jan's alone.
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

// The routes as a Dialect: Jan's error bodies ({"message"}), prefixes "" and "/v1", port
// 1337.
Dialect JanDialect(Context& ctx);

}  // namespace modeld::api::jan
