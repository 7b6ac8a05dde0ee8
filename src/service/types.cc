#include "service/types.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "engine/rate_limit.h"

namespace modeld::service {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kResolving:
      return "resolving";
    case JobState::kDownloading:
      return "downloading";
    case JobState::kVerifying:
      return "verifying";
    case JobState::kInstalling:
      return "installing";
    case JobState::kCompleted:
      return "completed";
    case JobState::kPaused:
      return "paused";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kFailed:
      return "failed";
  }
  return "failed";
}

std::optional<JobState> ParseJobState(std::string_view name) {
  for (JobState s : {JobState::kQueued, JobState::kResolving, JobState::kDownloading,
                     JobState::kVerifying, JobState::kInstalling, JobState::kCompleted,
                     JobState::kPaused, JobState::kCancelled, JobState::kFailed}) {
    if (JobStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::filesystem::path Model::OpenPath() const {
  return files.size() == 1 ? path / files[0].path : path;
}

nlohmann::json Model::ToJson() const {
  nlohmann::json j;
  j["name"] = ref.name;
  j["version"] = ref.version;
  j["ref"] = ref.ToString();
  j["status"] = status;
  j["source"] = source;
  j["description"] = description;
  j["tags"] = tags;
  j["metadata"] = metadata.is_null() ? nlohmann::json::object() : metadata;
  j["size"] = size;
  j["path"] = path.string();
  j["created_at"] = created_at;
  j["installed_at"] = installed_at;
  if (!files.empty()) {
    auto arr = nlohmann::json::array();
    for (const auto& f : files)
      arr.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
    j["files"] = arr;
  }
  if (!problems.empty()) j["problems"] = problems;
  if (inspection) {
    nlohmann::json insp =
        inspection->details.is_object() ? inspection->details : nlohmann::json::object();
    if (!inspection->error.empty()) insp["error"] = inspection->error;
    insp["inspected_at"] = inspection->inspected_at;
    j["inspection"] = std::move(insp);
  }
  if (loaded) j["loaded"] = loaded->ToJson();
  return j;
}

nlohmann::json LoadedState::ToJson() const {
  return {{"instance_id", instance_id},
          {"bytes", bytes},
          {"resident_bytes", resident_bytes},
          {"since", since},
          {"last_used", last_used},
          {"expires_at", expires_at ? nlohmann::json(*expires_at) : nlohmann::json(nullptr)},
          {"mlocked", mlocked}};
}

nlohmann::json LoadedModelView::ToJson() const {
  nlohmann::json j = state.ToJson();
  j["name"] = ref.name;
  j["version"] = ref.version;
  j["ref"] = ref.ToString();
  return j;
}

Result<std::chrono::milliseconds> ParseKeepAlive(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument(
        "keep_alive '" + std::string(text) +
        "': want seconds (300, 0 to unload now, -1 for never) or a duration (5m, 1h30m, 90s)");
  };
  std::string t(text);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.erase(0, 1);
  if (t.empty()) return bad();
  bool negative = t[0] == '-';
  size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0;
  if (i == t.size()) return bad();
  double ms = 0;
  bool bare = true;  // a number without a unit: seconds
  while (i < t.size()) {
    size_t start = i;
    while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
    if (i == start) return bad();
    char* end = nullptr;
    std::string num = t.substr(start, i - start);
    double v = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size() || !std::isfinite(v)) return bad();
    size_t unit_start = i;
    while (i < t.size() && std::isalpha(static_cast<unsigned char>(t[i]))) ++i;
    std::string unit = t.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit.empty()) {
      if (!bare || i != t.size() || start != (negative || t[0] == '+' ? 1u : 0u)) return bad();
      scale = 1000;
    } else if (unit == "ns") {
      scale = 1e-6;
    } else if (unit == "us") {
      scale = 1e-3;
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60e3;
    } else if (unit == "h") {
      scale = 3600e3;
    } else {
      return bad();
    }
    bare = bare && unit.empty();
    ms += v * scale;
    if (ms > 1e15) return bad();  // beyond any sensible keep_alive: say so, do not wrap
  }
  if (negative && ms > 0) return std::chrono::milliseconds(-1);
  // A positive keep_alive below a millisecond is kept as one, not as "unload now".
  if (ms > 0 && ms < 1) ms = 1;
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

nlohmann::json CacheReport::ToJson() const {
  auto per = nlohmann::json::array();
  for (const auto& [ref, size] : per_model) per.push_back({{"ref", ref}, {"size", size}});
  auto hub = nlohmann::json::array();
  for (const auto& r : hf_cache_repos) {
    hub.push_back({{"repo_id", r.repo_id},
                   {"path", r.path.string()},
                   {"files", r.files},
                   {"bytes", r.bytes},
                   {"unused_files", r.unused_files},
                   {"unused_bytes", r.unused_bytes}});
  }
  auto ollama = nlohmann::json::array();
  for (const auto& m : ollama_dir_models) {
    ollama.push_back({{"name", m.name.Shortest()}, {"digest", m.digest}, {"size", m.size}});
  }
  return {{"data_dir", data_dir.string()},
          {"hf_cache", hf_cache.string()},
          {"ollama_models", ollama_models.string()},
          {"ollama_dir_models", ollama},
          {"models", model_count},
          {"blobs", blob_count},
          {"blob_bytes", blob_bytes},
          {"logical_bytes", logical_bytes},
          {"partials", partial_count},
          {"partial_bytes", partial_bytes},
          {"free_bytes", free_bytes},
          {"per_model", per},
          {"hf_cache_repos", hub}};
}

nlohmann::json HubLinkedFiles::ToJson() const {
  return {{"kept_files", kept},
          {"kept_bytes", kept_bytes},
          {"links_removed", links_removed},
          {"repos", repos}};
}

nlohmann::json GcReport::ToJson() const {
  return {{"dry_run", dry_run},
          {"removals_finished", removals_finished},
          {"blobs_removed", blobs_removed},
          {"blob_bytes", blob_bytes},
          {"content_dirs_removed", content_dirs_removed},
          {"partials_removed", partials_removed},
          {"partial_bytes", partial_bytes},
          {"freed_bytes", freed_bytes},
          {"hf_cache", hf_cache.ToJson()}};
}

void EnsureRateLimit(PullRequest& request) {
  if (!request.rate_limit) {
    request.rate_limit = std::make_shared<engine::RateLimit>(request.options.max_rate);
  }
}

}  // namespace modeld::service
