// Ollama's wire format (../shared/dialects.md section 5.1 and section 7; Ollama's
// api/types.go): request bodies, the NDJSON progress lines of /api/pull, the model
// listings, and its error shape {"error": "..."} with Ollama's statuses.
//
// Thread safety: stateless functions.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/route.h"
#include "core/ollama.h"
#include "core/status.h"
#include "service/job_event.h"
#include "service/types.h"

namespace modeld::api::ollama {

// POST /api/pull {"model" or "name", "insecure", "stream"}: stream defaults to true.
struct PullBody {
  std::string model;
  bool insecure = false;
  bool stream = true;
};
Result<PullBody> ParsePullRequest(std::string_view body);

// POST /api/show, DELETE /api/delete: {"model" or "name", "verbose"}.
struct ModelBody {
  std::string model;
  bool verbose = false;
};
Result<ModelBody> ParseModelRequest(std::string_view body);

// POST /api/copy {"source", "destination"}.
struct CopyBody {
  std::string source, destination;
};
Result<CopyBody> ParseCopyRequest(std::string_view body);

// POST /api/generate {"model", "prompt", "images", "keep_alive", ...} and /api/chat
// {"model", "messages", ...}: |has_input| when there is something to run (a prompt,
// images, or messages), which modeld does not do.
struct GenerateBody {
  std::string model;
  bool has_input = false;
  service::KeepAlive keep_alive;
};
Result<GenerateBody> ParseGenerateRequest(std::string_view body, bool chat);

// {"error": message} with |status|, as Ollama answers.
Response Error(http::status status, const std::string& message);
// A failure in Ollama's statuses: NotFound 404, InvalidArgument 400, PermissionDenied 403
// (401 upstream), AlreadyExists 409, NoSpace 507, Unavailable 502, else 500.
http::status StatusFor(const Status& s);
Response ErrorFor(const Status& s);

// "pulling 6a0746a1ec1a": the first 12 hex digits of a sha256 digest ("sha256:..." or bare).
std::string ShortDigest(std::string_view digest);

// The NDJSON lines a pull's event adds, given the lines already sent per file (by path:
// the last "completed" value sent, so lines never go back). Per file: {"status": "pulling
// <short>", "digest", "total", "completed"}; then, once every file is in, "verifying
// sha256 digest" and "writing manifest" (each once, tracked in |stage|), and "success"
// when the job completed, or {"error"} when it failed or was cancelled.
struct PullLines {
  std::map<std::string, uint64_t> completed;  // file path -> bytes reported
  int stage = 0;                              // 0, 1 verifying sent, 2 writing sent, 3 done
};
std::vector<nlohmann::json> PullEventLines(const service::JobEvent& e, PullLines& sent);

// The Ollama name a model shows as: its Ollama name ("llama3.2:latest") when its name is
// one (core/ollama.h OllamaNameOf), "hf.co/org/repo:Q" for a Hub model, else
// "name:version".
std::string DisplayName(const service::Model& m);
// The stored models an Ollama name may mean, most likely first: the Ollama registry's
// model, the Hub's (hf.co/...), and the name as modeld's own "name[:version]".
std::vector<ModelRef> CandidateRefs(const std::string& name);

// details {parent_model, format, family, families, parameter_size, quantization_level}.
nlohmann::json DetailsJson(const service::Model& m);
nlohmann::json DetailsJson(const service::OllamaDirModel& m);
// One entry of /api/tags.
nlohmann::json TagJson(const service::Model& m);
nlohmann::json TagJson(const service::OllamaDirModel& m);
// An Ollama manifest digest for a model: the sha256 of its manifest when it came from a
// registry, else of its files' digests.
std::string ModelDigest(const service::Model& m);

// RFC 3339 with nanoseconds, as Go writes times ("2026-11-30T12:00:00.000000000Z").
std::string GoTime(std::chrono::system_clock::time_point t);

}  // namespace modeld::api::ollama
