#include "service/job_codec.h"

namespace modeld::service {

nlohmann::json PullRequestToJson(const PullRequest& r, int priority) {
  nlohmann::json j;
  j["url"] = r.url;
  j["name"] = r.ref.name;
  j["version"] = r.ref.version;
  if (r.checksum) j["checksum"] = r.checksum->ToString();
  j["headers"] = r.headers;
  j["force"] = r.force;
  j["source"] = r.source;
  j["include"] = r.include;
  j["exclude"] = r.exclude;
  j["quantization"] = r.quantization;
  j["revision"] = r.revision;
  j["extract"] = r.extract;
  j["keep_archive"] = r.keep_archive;
  j["description"] = r.description;
  j["tags"] = r.tags;
  j["metadata"] = r.metadata;
  j["priority"] = priority;
  const auto& o = r.options;
  j["options"] = {{"max_connections", o.max_connections},
                  {"retry_count", o.retry_count},
                  {"connect_timeout_ms", o.connect_timeout.count()},
                  {"stall_timeout_ms", o.stall_timeout.count()},
                  {"progress_timeout_ms", o.progress_timeout.count()},
                  {"total_timeout_ms", o.total_timeout.count()},
                  {"max_backoff_ms", o.max_backoff.count()},
                  {"buffer_size", o.buffer_size},
                  {"verify_ssl", o.verify_ssl}};
  if (o.retry_for) j["options"]["retry_for_ms"] = o.retry_for->count();
  return j;
}

Result<PullRequest> PullRequestFromJson(const nlohmann::json& j, int* priority) {
  try {
    PullRequest r;
    r.url = j.value("url", std::string());
    r.ref = {j.at("name").get<std::string>(), j.at("version").get<std::string>()};
    if (j.contains("checksum")) {
      auto c = ParseChecksum(j["checksum"].get<std::string>());
      if (!c.has_value()) return c.error();
      r.checksum = *c;
    }
    r.headers = j.value("headers", std::vector<std::string>{});
    r.force = j.value("force", false);
    r.source = j.value("source", std::string());
    r.include = j.value("include", std::vector<std::string>{});
    r.exclude = j.value("exclude", std::vector<std::string>{});
    r.quantization = j.value("quantization", std::string());
    r.revision = j.value("revision", std::string());
    r.extract = j.value("extract", true);
    r.keep_archive = j.value("keep_archive", false);
    r.description = j.value("description", std::string());
    r.tags = j.value("tags", std::vector<std::string>{});
    r.metadata = j.value("metadata", nlohmann::json::object());
    if (priority) *priority = j.value("priority", 0);
    if (j.contains("options")) {
      const auto& o = j["options"];
      auto& d = r.options;
      d.max_connections = o.value("max_connections", d.max_connections);
      d.retry_count = o.value("retry_count", d.retry_count);
      if (o.contains("retry_for_ms"))
        d.retry_for = std::chrono::milliseconds(o["retry_for_ms"].get<int64_t>());
      d.connect_timeout =
          std::chrono::milliseconds(o.value("connect_timeout_ms", d.connect_timeout.count()));
      d.stall_timeout =
          std::chrono::milliseconds(o.value("stall_timeout_ms", d.stall_timeout.count()));
      d.progress_timeout =
          std::chrono::milliseconds(o.value("progress_timeout_ms", d.progress_timeout.count()));
      d.total_timeout =
          std::chrono::milliseconds(o.value("total_timeout_ms", d.total_timeout.count()));
      d.max_backoff = std::chrono::milliseconds(o.value("max_backoff_ms", d.max_backoff.count()));
      d.buffer_size = o.value("buffer_size", d.buffer_size);
      d.verify_ssl = o.value("verify_ssl", d.verify_ssl);
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corrupt(std::string("unreadable job request: ") + e.what());
  }
}

}  // namespace modeld::service
