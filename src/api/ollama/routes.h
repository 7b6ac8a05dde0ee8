// Ollama's API (../shared/dialects.md sections 5.1 and 7; issue 15), default port 11434:
//   POST   /api/pull      {model|name, insecure?, stream?}: NDJSON progress ("pulling
//                         manifest", "pulling <digest>" per blob, "verifying sha256 digest",
//                         "writing manifest", "success", or {"error"}); stream:false answers
//                         once, when the pull ends. Pulls of one model share one job; a
//                         client going away does not cancel it; pulling again resumes.
//   GET    /api/tags      the installed models, and those of Ollama's own directory
//   POST   /api/show      {model|name, verbose?}: details, model_info (GGUF keys),
//                         template, parameters, system, license, capabilities
//   DELETE /api/delete    {model|name}: removes it (and from Ollama's directory)
//   POST   /api/copy      {source, destination}: a second name for the same files
//   GET    /api/ps        the loaded models
//   GET    /api/version   {"version"}: the Ollama API version modeld follows
//   HEAD   /api/blobs/:digest  200 when the store holds the blob, else 404
//   POST   /api/generate, /api/chat  with no prompt/messages: loads the model (keep_alive
//                         honoured; keep_alive 0 unloads); with one, 501: no inference here.
// Names: an Ollama name resolves on the Ollama registry (sources/ollama.h), hf.co/org/repo
// [:QUANT] on the Hub, and a catalog's model name (without '/') from its catalog.
//
// Thread safety: the handlers run on the server's threads; Context outlives the server.
#pragma once

#include <string>

#include "api/dialect.h"
#include "service/job_manager.h"
#include "service/model_service.h"

namespace modeld::api::ollama {

struct Context {
  service::ModelService& models;
  service::JobManager& jobs;
  std::string version;  // modeld's
};

// The Ollama API version modeld answers /api/version with (the one its routes follow).
inline constexpr char kOllamaApiVersion[] = "0.12.0";

// The routes as a Dialect: Ollama's error bodies, port 11434.
Dialect OllamaDialect(Context& ctx);

}  // namespace modeld::api::ollama
