#include "service/types.h"

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
  return j;
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
  return {{"data_dir", data_dir.string()}, {"hf_cache", hf_cache.string()},
          {"models", model_count},         {"blobs", blob_count},
          {"blob_bytes", blob_bytes},      {"logical_bytes", logical_bytes},
          {"partials", partial_count},     {"partial_bytes", partial_bytes},
          {"free_bytes", free_bytes},      {"per_model", per},
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

}  // namespace modeld::service
