// Pieces OS's wire format (../shared/dialects.md sections 1, 6 and 7; seeds 002 and 003):
// the Model and ModelDownloadProgress objects its clients parse, the SeededModel they send,
// and the one mapping from JobState and Status to Pieces' words and HTTP statuses.
//
// Every Model carries the fields the official clients require (id, version, created, name,
// cloud, type, usage) with the exact enum spellings, plus downloaded, downloading, loaded,
// custom, unique, bytes, ram, quantization, parameters, maxTokens, foundation and provider
// where known. Model.id is ModelUuid(ref) (core/names.h): stable across restarts.
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/route.h"
#include "service/job_manager.h"
#include "service/types.h"

namespace modeld::api::pieces {

// What modeld knows of one model, gathered from the service for one answer: installed,
// downloading, registered (custom or kept), in a catalog; any of them.
struct Entry {
  ModelRef ref;
  std::optional<service::Model> installed;
  std::optional<service::Job> job;  // a download not finished (queued, running, paused)
  std::optional<service::RegisteredModel> registered;
  std::optional<service::CatalogModel> catalog;  // the catalog entry of |ref|'s name
  std::optional<uint64_t> catalog_size;          // its version's size, when the catalog says
};

// "2025-01-01T00:00:00.000Z" for |unix_seconds| (UTC).
std::string IsoTimestamp(int64_t unix_seconds);
// GroupedTimestamp: {"value": ISO-8601, "readable": "2025-01-01 00:00 UTC"}.
nlohmann::json GroupedTimestamp(int64_t unix_seconds);
// ByteDescriptor: {"value": bytes, "readable": "4.37 GB"}.
nlohmann::json ByteDescriptor(uint64_t bytes);

// ModelFoundationEnum for a model's name and architecture (the family, "..._LATEST" where
// Pieces has one), "UNKNOWN" when nothing matches.
std::string_view FoundationFor(std::string_view name, std::string_view architecture);
// ModelUsageEnum: TEXT_EMBEDDING for embedding models, OCR for speech and vision encoders
// (whisper), CODE_CONVERSATION for language models, else UNKNOWN.
std::string_view UsageFor(std::string_view name, std::string_view architecture,
                          const std::vector<std::string>& tags);

// A Pieces Model for |e|.
nlohmann::json ModelJson(const Entry& e);

// ModelDownloadProgressStatusEnum for a job state: INITIALIZED (queued, resolving),
// IN-PROGRESS (downloading, verifying, installing, paused), COMPLETED, FAILED, CANCELED.
std::string_view ProgressStatus(service::JobState state);
// ModelDownloadProgress: {"status", "percentage"} (percentage omitted when null).
nlohmann::json ProgressJson(std::string_view status, std::optional<double> percentage);
// The percentage (0-100) of |ev|'s bytes, when its total is known.
std::optional<double> Percentage(const service::JobEvent& ev);

// A SeededModel (POST /models/create), understood: the model it names and what to pull.
struct SeededModel {
  ModelRef ref;           // its name and version, made valid model names where they are not
  std::string target;     // "unique": a URL, hf://org/name, a catalog name; "" when absent
  nlohmann::json fields;  // the body as sent, kept as the custom model's description
};
// InvalidArgument names the field: a body that is not a JSON object, no "name" or
// "version" string, a "type" or "usage" outside its enum.
Result<SeededModel> ParseSeededModel(std::string_view body);

// A model name from a display name ("Llama 3 8B" -> "Llama-3-8B"): characters a model name
// cannot hold become '-', runs of them one; "" when nothing is left.
std::string NameFromDisplayName(std::string_view display);

// The HTTP status for a failed operation: 410 for an unknown model (as Pieces OS answers),
// 409 for one not downloaded yet (a load), 400, 409, 507, 503, 500.
http::status HttpStatusFor(const Status& s);
// {"status": code, "message", "error_code" (typed reason), "error_detail"} (redacted).
Response ErrorFor(const Status& s);
Response ErrorBody(http::status status, const std::string& message);

}  // namespace modeld::api::pieces
