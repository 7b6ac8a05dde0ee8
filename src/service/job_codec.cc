#include "service/job_codec.h"

#include <limits>

namespace modeld::service {

namespace {

// |key| of the object |j| into |*out| when present. Only an integer that fits T is read:
// value<T>() converts a float with undefined behaviour when it does not fit (1e300) and
// wraps an integer that does not (-1 as a size), so a record holding either is damaged.
template <typename T>
bool ReadInt(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_number_integer()) return false;
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    *out = static_cast<T>(v);
    return true;
  }
  int64_t v = it->get<int64_t>();  // negative: unsigned integers are number_unsigned
  if (v < static_cast<int64_t>(std::numeric_limits<T>::min())) return false;
  *out = static_cast<T>(v);
  return true;
}

template <typename Duration>
bool ReadMs(const nlohmann::json& j, const char* key, Duration* out) {
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(*out).count();
  if (!ReadInt(j, key, &ms)) return false;
  *out = std::chrono::milliseconds(ms);
  return true;
}

}  // namespace

nlohmann::json PullRequestToJson(const PullRequest& r, int priority) {
  nlohmann::json j;
  j["url"] = r.url;
  j["name"] = r.ref.name;
  j["version"] = r.ref.version;
  if (!r.lookup.name.empty())
    j["lookup"] = {{"name", r.lookup.name}, {"version", r.lookup.version}};
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
                  {"verify_ssl", o.verify_ssl},
                  {"max_rate", o.max_rate}};
  if (o.retry_for) j["options"]["retry_for_ms"] = o.retry_for->count();
  return j;
}

Result<PullRequest> PullRequestFromJson(const nlohmann::json& j, int* priority) {
  try {
    PullRequest r;
    r.url = j.value("url", std::string());
    r.ref = {j.at("name").get<std::string>(), j.at("version").get<std::string>()};
    if (j.contains("lookup")) {
      r.lookup = {j["lookup"].at("name").get<std::string>(),
                  j["lookup"].value("version", std::string())};
    }
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
    int prio = 0;
    if (!ReadInt(j, "priority", &prio)) {
      return Status::Corrupt("unreadable job request: 'priority' is not an integer of its range");
    }
    if (priority) *priority = prio;
    if (j.contains("options")) {
      const auto& o = j["options"];
      auto& d = r.options;
      if (!o.is_object())
        return Status::Corrupt("unreadable job request: 'options' is not an object");
      bool ok = ReadInt(o, "max_connections", &d.max_connections) &&
                ReadInt(o, "retry_count", &d.retry_count) &&
                ReadMs(o, "connect_timeout_ms", &d.connect_timeout) &&
                ReadMs(o, "stall_timeout_ms", &d.stall_timeout) &&
                ReadMs(o, "progress_timeout_ms", &d.progress_timeout) &&
                ReadMs(o, "total_timeout_ms", &d.total_timeout) &&
                ReadMs(o, "max_backoff_ms", &d.max_backoff) &&
                ReadInt(o, "buffer_size", &d.buffer_size) && ReadInt(o, "max_rate", &d.max_rate);
      if (ok && o.contains("retry_for_ms")) {
        std::chrono::milliseconds retry_for{0};
        ok = ReadMs(o, "retry_for_ms", &retry_for) && retry_for.count() >= 0;
        d.retry_for = retry_for;
      }
      if (!ok)
        return Status::Corrupt("unreadable job request: an option is not an integer of its range");
      d.verify_ssl = o.value("verify_ssl", d.verify_ssl);
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corrupt(std::string("unreadable job request: ") + e.what());
  }
}

}  // namespace modeld::service
