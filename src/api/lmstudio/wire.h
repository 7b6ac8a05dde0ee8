// LM Studio's REST API v1 wire format (../shared/dialects.md sections 2, 6 and 7; seed 004;
// issue 14): the request bodies its clients send, the download job object, the model
// entries of GET /api/v1/models and of the legacy GET /api/v0/models, and the one mapping
// from JobState and Status to LM Studio's words and HTTP statuses.
//
// A model's key (what "model" names on load, and the loaded instance's id) is its
// reference: the name alone when its version is "latest", else "name:version".
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/route.h"
#include "core/names.h"
#include "core/status.h"
#include "service/job_manager.h"
#include "service/types.h"

namespace modeld::api::lmstudio {

// POST /api/v1/models/download: {"model": a catalog id or a Hub link, "quantization"?}.
struct DownloadRequest {
  std::string model;
  std::string quantization;  // "" when not given
};
// POST /api/v1/models/load. The tuning fields are taken (and echoed) but change nothing:
// modeld maps the files, it runs no inference.
struct LoadRequest {
  std::string model;
  std::optional<int64_t> context_length, eval_batch_size, num_experts;
  std::optional<bool> flash_attention, offload_kv_cache_to_gpu;
  bool echo_load_config = false;
};

// Each is InvalidArgument naming the field for a body that is not a JSON object, a missing
// or empty required string, a field of the wrong type or out of range. Never throws.
Result<DownloadRequest> ParseDownloadRequest(std::string_view body);
Result<LoadRequest> ParseLoadRequest(std::string_view body);
// POST /api/v1/models/unload: {"instance_id"}; the id.
Result<std::string> ParseUnloadRequest(std::string_view body);

// The key of |ref| (see above), and the reference a key or instance id names.
std::string KeyFor(const ModelRef& ref);
Result<ModelRef> RefForKey(std::string_view key);

// A download job's status: downloading (queued, resolving, downloading, verifying,
// installing), paused, completed, failed (failed and cancelled).
std::string_view DownloadStatus(service::JobState state);
// The job object: job_id, status, total_size_bytes, downloaded_bytes, started_at;
// bytes_per_second and estimated_completion (when the ETA is known) while downloading;
// completed_at when completed; "quantization" when the request chose one; "error" (a
// string) when failed. |now| (Unix seconds) dates the estimated completion.
nlohmann::json JobJson(const service::Job& job, int64_t now);
// What POST answers for a model already installed: {"status": "already_downloaded"} and
// the quantization when one was chosen.
nlohmann::json AlreadyDownloadedJson(std::string_view quantization);

// "embedding" for embedding models (BERT-family architectures, "embed" in the name), else
// "llm".
std::string_view ModelType(const service::Model& m);
// The org of an "org/name" model, else where it came from (its source), else "local".
std::string Publisher(const service::Model& m);
// A GET /api/v1/models entry: type, publisher, key, display_name, architecture (absent for
// embeddings), quantization {name, bits_per_weight}, size_bytes, params_string,
// loaded_instances [{id, config: {context_length}}], max_context_length, format ("gguf" or
// null); values modeld does not know are null.
nlohmann::json ModelEntryJson(const service::Model& m);
// A GET /api/v0/models entry: id, object "model", type, publisher, arch,
// compatibility_type, quantization, state ("loaded" | "not-loaded"), max_context_length.
nlohmann::json LegacyModelJson(const service::Model& m);

// The HTTP status for a failed operation: 400, 404 (an unknown model or job), 409 (already
// there, or not ready: downloading, broken), 403, 507, 503, 500.
http::status HttpStatusFor(const Status& s);
// {"error": {"message", "type", "code", "error_code", "error_detail"?}} with HttpStatusFor;
// |code| replaces the code the Status gives (job_not_found for an unknown job).
Response ErrorFor(const Status& s, std::string_view code = "");
// The same shape for the server's own errors (401, 404, 405, 413, ...).
Response ErrorBody(http::status status, const std::string& message);

}  // namespace modeld::api::lmstudio
