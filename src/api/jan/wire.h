// Jan's and cortex's wire format (../shared/dialects.md sections 3.1, 3.2, 6 and 7; seed
// 000; issue 14): Jan's model.json and DownloadState, cortex's download task and its
// /events frames, the request bodies (pull, cancel, start/stop), and the one mapping from
// JobState and Status to their words and HTTP statuses.
//
// Model ids: a model's Jan id is its reference with ":latest" dropped ("tinyllama-1.1b",
// "org/name:Q4_K_M"): what GET /models lists, what a download names, and cortex's task.id
// (Jan takes task.id for the model id and cancels with it).
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/route.h"
#include "service/job_manager.h"
#include "service/types.h"

namespace modeld::api::jan {

// "name" for version "latest", else "name:version".
std::string JanId(const ModelRef& ref);
// The reference a Jan id names (a missing version is "latest"). InvalidArgument.
Result<ModelRef> ParseJanId(std::string_view id);

// What modeld knows of one model for one answer: installed, downloading, a Jan model.json
// catalog entry; any of them.
struct Entry {
  ModelRef ref;
  std::optional<service::Model> installed;       // with its files when read with Info
  std::optional<service::Job> job;               // its latest download (any state)
  std::optional<service::CatalogModel> catalog;  // its entry in the "jan" catalog
};

// Where a model lives now: "running" (loaded), "downloaded", "downloading" or
// "not_downloaded" (Jan's GetModelResponse.state).
std::string_view StateOf(const Entry& e);
// Jan's model.json for |e|: the catalog's model.json as given when there is one, with
// what modeld knows over it: id, object "model", name, version, format, sources
// [{filename, url}], settings {ctx_len, llama_model_path (the installed file), ...},
// parameters, metadata {author, tags, size}, engine, created, description, and status
// (cortex's "downloaded" / "downloading" / "not_downloaded") and state (StateOf).
nlohmann::json ModelJson(const Entry& e);

// Jan's DownloadState words: "downloading" (queued ... installing, paused), "end"
// (completed), "error" (failed, cancelled).
std::string_view DownloadStateWord(service::JobState state);
// Jan's DownloadState of |job| at |now| (Unix seconds): {modelId, fileName, time {elapsed,
// remaining} (seconds), speed (bytes/s), percent (0..1), size {total, transferred},
// downloadState, children (one per file, the same fields), error (when it failed)}.
nlohmann::json DownloadState(const service::Job& job, int64_t now);

// One file of a cortex download task.
struct TaskItem {
  std::string id;  // the file's path in the model
  std::string download_url;
  std::string local_path;  // where it is installed
  uint64_t bytes = 0;      // 0 while unknown
  uint64_t downloaded = 0;
};
// The task's items: the plan's files, with the bytes |files| (a JobEvent's) report;
// installed under |model_dir|. Empty (never absent) when neither knows a file yet.
std::vector<TaskItem> TaskItems(const service::PlanSummary& plan,
                                const std::vector<service::FileProgress>& files, bool completed,
                                const std::filesystem::path& model_dir);
// {"id", "type": "Model", "items": [{id, downloadUrl, localPath, checksum: "N/A", bytes,
// downloadedBytes}]}: |items| always present.
nlohmann::json TaskJson(const std::string& id, const std::vector<TaskItem>& items);
// The /events frame type of a job's event: DownloadStarted (|first|: the first event a
// client sees of a download not ended), DownloadUpdated, DownloadSuccess (completed),
// DownloadError (failed), DownloadStopped (cancelled).
std::string_view EventType(service::JobState state, bool first);

// POST /v1/models/pull {"model", "id"?, "name"?}: what to download, understood as a
// PullRequest: "author:repo:file.gguf" (hf://author/repo/file.gguf), a Hub link or any
// URL, a catalog id ("tinyllama-1.1b"; |jan_catalog| says the "jan" catalog has it), an
// org/name Hub repository; installed as "id" when given. InvalidArgument names the field.
struct PullBody {
  std::string model, id, name;
};
Result<PullBody> ParsePullBody(std::string_view body);
Result<service::PullRequest> PullRequestFor(const PullBody& body, bool jan_catalog);
// The "author:repo:file" form: "hf://author/repo/file"; nullopt for anything else.
std::optional<std::string> CortexHubTarget(std::string_view model);
// DELETE /v1/models/pull {"taskId"}: the task id (required).
Result<std::string> ParseCancelBody(std::string_view body);
// POST /v1/models/start|stop {"model", ...settings}: the model's id (required); PUT
// /models/:id/start (|path_id| set): the body is its settings (an object, or empty).
Result<std::string> ParseStartBody(std::string_view body, const std::string& path_id);

// The HTTP status for a failed operation: 400, 404, 409 (exists, or not in a state that
// allows it), 403, 507, 503, 500.
http::status HttpStatusFor(const Status& s);
// {"message", "error_code", "error_detail"} (redacted).
Response ErrorFor(const Status& s);
// {"message"}: the dialect's error body for the server's own errors.
Response ErrorBody(http::status status, const std::string& message);

}  // namespace modeld::api::jan
