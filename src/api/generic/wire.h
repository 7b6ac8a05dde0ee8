// The generic API's wire format (../shared/seeds/001, dialects.md section 4): its request
// body, its JSON answers, and its one mapping from JobState and Status code to the seed's
// words and HTTP statuses.
//
// Thread safety: stateless functions.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string_view>

#include "api/route.h"
#include "service/job_manager.h"

namespace modeld::api::generic {

// The HTTP status for a failed operation, as the seed's table has it.
http::status HttpStatusFor(const Status& s);
// {"detail": message}, the message redacted of credentials.
Response ErrorFor(const Status& s);

// The seed's "status" for a job state: its clients poll until completed or failed, so a
// cancelled job says failed (its "state" says cancelled).
std::string_view SeedStatus(service::JobState state);

// POST /model-download's body (and ?wait=): the pull it asks for, its priority, and
// whether to answer only when the download ends. InvalidArgument names the field.
struct DownloadRequest {
  service::PullRequest pull;
  int priority = 0;  // higher starts first when downloads queue
  bool wait = false;
};
Result<DownloadRequest> ParseDownloadRequest(std::string_view body, bool wait_query);
// A JSON Schema of the body ParseDownloadRequest reads, for GET /openapi.json (wire_test.cc
// checks the parser reads each of its fields).
extern const char* const kDownloadRequestSchema;

// POST /models/{name}/load's body (optional: empty is {}): "version" (else ?version=, else
// the name's :VERSION, else latest), "mlock", "keep_alive" (Ollama's: seconds as a number,
// or a duration string "5m"; 0 unloads, negative never). InvalidArgument names the field.
struct LoadRequest {
  ModelRef ref;
  service::LoadOptions options;
};
Result<LoadRequest> ParseLoadRequest(const std::string& name, std::string_view body,
                                     const std::string& version_query);
// A JSON Schema of the body ParseLoadRequest reads.
extern const char* const kLoadRequestSchema;

// POST /gc's body (optional): "partials_older_than_hours" (a number, default 168: the
// CLI's), "dry_run", "hf_cache". InvalidArgument names the field.
struct GcRequest {
  std::chrono::seconds partial_age{168 * 3600};
  service::CleanupOptions options;
};
Result<GcRequest> ParseGcRequest(std::string_view body);

// PATCH /settings and PATCH /model-download/{id}: "max_rate", bytes a second (0: no
// limit), and for /settings only (|settings|) "max_connections_per_host" (1..256). At
// least one of them; InvalidArgument names the field.
struct LimitsRequest {
  std::optional<uint64_t> max_rate;
  std::optional<int> max_connections_per_host;
};
Result<LimitsRequest> ParseLimitsRequest(std::string_view body, bool settings);
// The most a rate may be (a terabyte a second), and the least but 0 (no limit): below
// a kilobyte a second a download would take forever and look stalled.
inline constexpr int64_t kMaxRate = 1'000'000'000'000;
inline constexpr int64_t kMinRate = 1024;

nlohmann::json StartedJson(const service::Submission& s);
nlohmann::json ProgressJson(const service::Job& job);
nlohmann::json CompletedJson(const service::Job& job);
// A job event as the streams send it (the fields of the progress endpoint, plus bytes).
nlohmann::json EventJson(const service::JobEvent& ev);
// An installed model: Model::ToJson, size_mb, and status "loaded" when it is held in memory
// (the seed's scripts read status).
nlohmann::json ModelJson(const service::Model& m);
// POST /models/{name}/load's answer.
nlohmann::json LoadedJson(const service::LoadResult& r);

}  // namespace modeld::api::generic
