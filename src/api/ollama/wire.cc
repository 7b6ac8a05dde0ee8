#include "api/ollama/wire.h"

#include <cstdio>
#include <ctime>

#include "api/common/body.h"
#include "core/checksum.h"
#include "core/json.h"

namespace modeld::api::ollama {

namespace {

using nlohmann::json;

// "model", or Ollama's older "name".
bool ReadModel(BodyReader& b, std::string* model) {
  if (!b.Str("model", model)) return false;
  if (model->empty() && !b.Str("name", model)) return false;
  return true;
}

}  // namespace

Result<PullBody> ParsePullRequest(std::string_view body) {
  auto parsed = BodyReader::Parse(body);
  if (!parsed.has_value()) return parsed.error();
  BodyReader& b = *parsed;
  PullBody out;
  ReadModel(b, &out.model) && b.Bool("insecure", &out.insecure) && b.Bool("stream", &out.stream);
  if (!b.ok()) return b.error();
  if (out.model.empty()) return Status::InvalidArgument("model is required");
  return out;
}

Result<ModelBody> ParseModelRequest(std::string_view body) {
  auto parsed = BodyReader::Parse(body);
  if (!parsed.has_value()) return parsed.error();
  BodyReader& b = *parsed;
  ModelBody out;
  ReadModel(b, &out.model) && b.Bool("verbose", &out.verbose);
  if (!b.ok()) return b.error();
  if (out.model.empty()) return Status::InvalidArgument("model is required");
  return out;
}

Result<CopyBody> ParseCopyRequest(std::string_view body) {
  auto parsed = BodyReader::Parse(body);
  if (!parsed.has_value()) return parsed.error();
  BodyReader& b = *parsed;
  CopyBody out;
  b.Str("source", &out.source, true) && b.Str("destination", &out.destination, true);
  if (!b.ok()) return b.error();
  return out;
}

Result<GenerateBody> ParseGenerateRequest(std::string_view body, bool chat) {
  auto parsed = BodyReader::Parse(body);
  if (!parsed.has_value()) return parsed.error();
  BodyReader& b = *parsed;
  GenerateBody out;
  std::string prompt;
  b.Str("model", &out.model);
  if (!chat) b.Str("prompt", &prompt);
  if (!b.ok()) return b.error();
  if (out.model.empty()) return Status::InvalidArgument("model is required");
  const json& j = b.json();
  auto non_empty = [&](const char* key) {
    return j.contains(key) && j[key].is_array() && !j[key].empty();
  };
  out.has_input = !prompt.empty() || non_empty(chat ? "messages" : "images");
  if (j.contains("keep_alive")) {
    auto keep = ReadKeepAlive(j["keep_alive"]);
    if (!keep.has_value()) return keep.error();
    out.keep_alive = *keep;
  }
  return out;
}

Response Error(http::status status, const std::string& message) {
  return JsonResponse(status, DumpJson(json{{"error", message}}));
}

http::status StatusFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return http::status::ok;
    case Status::Code::kInvalidArgument:
      return http::status::bad_request;
    case Status::Code::kNotFound:
      return http::status::not_found;
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition:
      return http::status::conflict;
    case Status::Code::kNoSpace:
      return http::status::insufficient_storage;
    case Status::Code::kPermissionDenied:
      return http::status::forbidden;
    case Status::Code::kUnavailable:
      return http::status::bad_gateway;
    case Status::Code::kIoError:
    case Status::Code::kCorrupt:
    case Status::Code::kCancelled:
    case Status::Code::kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

Response ErrorFor(const Status& s) { return Error(StatusFor(s), s.message()); }

std::string ShortDigest(std::string_view digest) {
  if (auto colon = digest.find(':'); colon != std::string_view::npos) {
    digest.remove_prefix(colon + 1);
  }
  return std::string(digest.substr(0, 12));
}

std::vector<json> PullEventLines(const service::JobEvent& e, PullLines& sent) {
  using service::JobState;
  std::vector<json> out;
  if (sent.stage >= 3) return out;
  for (const auto& f : e.files) {
    const uint64_t total = f.total.value_or(f.done);
    auto it = sent.completed.find(f.path);
    if (it != sent.completed.end() && f.done <= it->second) continue;
    if (it == sent.completed.end() && f.done == 0 && !f.total) continue;
    sent.completed[f.path] = f.done;
    const std::string short_name = f.digest.empty() ? f.path : ShortDigest(f.digest);
    json line = {{"status", "pulling " + short_name},
                 {"digest", f.digest.empty() ? f.path : f.digest},
                 {"total", total}};
    if (f.done > 0) line["completed"] = f.done;
    out.push_back(std::move(line));
  }
  const bool verifying = e.state == JobState::kVerifying || e.state == JobState::kInstalling ||
                         e.state == JobState::kCompleted;
  if (verifying && sent.stage < 1) {
    out.push_back({{"status", "verifying sha256 digest"}});
    sent.stage = 1;
  }
  if ((e.state == JobState::kInstalling || e.state == JobState::kCompleted) && sent.stage < 2) {
    out.push_back({{"status", "writing manifest"}});
    sent.stage = 2;
  }
  if (e.state == JobState::kCompleted) {
    out.push_back({{"status", "success"}});
    sent.stage = 3;
  } else if (e.state == JobState::kFailed || e.state == JobState::kCancelled) {
    std::string message = e.status.message();
    if (message.empty())
      message = e.state == JobState::kCancelled ? "pull cancelled" : "pull failed";
    out.push_back({{"error", message}});
    sent.stage = 3;
  }
  return out;
}

std::string DisplayName(const service::Model& m) {
  // By its name first: a Hub model copied to an Ollama name shows as that name.
  if (auto name = OllamaNameOf(m.ref)) return name->Shortest();
  if (m.source == "huggingface") return "hf.co/" + m.ref.name + ":" + m.ref.version;
  return m.ref.ToString();
}

std::vector<ModelRef> CandidateRefs(const std::string& name) {
  std::vector<ModelRef> out;
  auto add = [&out](const ModelRef& r) {
    for (const auto& o : out) {
      if (o == r) return;
    }
    out.push_back(r);
  };
  if (auto o = ParseOllamaName(name); o.has_value()) {
    if (o->OnHub()) {
      add({o->ns + "/" + o->model, o->tag});
    } else if (auto ref = o->ToModelRef(); ref.has_value()) {
      add(*ref);
    }
  }
  if (auto ref = ParseModelRef(name); ref.has_value()) add(*ref);
  return out;
}

json DetailsJson(const service::Model& m) {
  json d = {{"parent_model", ""},  {"format", "gguf"},     {"family", ""},
            {"families", nullptr}, {"parameter_size", ""}, {"quantization_level", ""}};
  if (m.inspection) {
    const auto& i = *m.inspection;
    if (!i.format.empty()) d["format"] = i.format;
    d["family"] = i.architecture;
    if (!i.architecture.empty()) d["families"] = json::array({i.architecture});
    d["parameter_size"] = i.parameters;
    d["quantization_level"] = i.quantization;
  }
  return d;
}

json DetailsJson(const service::OllamaDirModel& m) {
  const json& c = m.config;
  auto str = [&c](const char* key) {
    return c.contains(key) && c[key].is_string() ? c[key].get<std::string>() : std::string();
  };
  json families = c.contains("model_families") && c["model_families"].is_array()
                      ? c["model_families"]
                      : json(nullptr);
  return {{"parent_model", ""},
          {"format", str("model_format")},
          {"family", str("model_family")},
          {"families", families},
          {"parameter_size", str("model_type")},
          {"quantization_level", str("file_type")}};
}

std::string ModelDigest(const service::Model& m) {
  if (m.metadata.is_object() && m.metadata.contains("ollama")) {
    const json& o = m.metadata["ollama"];
    if (o.is_object() && o.contains("manifest_digest") && o["manifest_digest"].is_string()) {
      std::string d = o["manifest_digest"].get<std::string>();
      if (d.rfind("sha256:", 0) == 0) d.erase(0, 7);
      return d;
    }
  }
  return HashHex(HashAlgorithm::kSha256, m.ref.ToString() + "\n" + std::to_string(m.size) + "\n" +
                                             std::to_string(m.installed_at));
}

std::string GoTime(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ns.count() / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ns.count() % 1'000'000'000));
  return buf;
}

json TagJson(const service::Model& m) {
  const std::string name = DisplayName(m);
  return {{"name", name},
          {"model", name},
          {"modified_at",
           GoTime(std::chrono::system_clock::time_point(std::chrono::seconds(m.installed_at)))},
          {"size", m.size},
          {"digest", ModelDigest(m)},
          {"details", DetailsJson(m)}};
}

json TagJson(const service::OllamaDirModel& m) {
  const std::string name = m.name.Shortest();
  return {{"name", name},
          {"model", name},
          {"modified_at",
           GoTime(std::chrono::system_clock::time_point(std::chrono::seconds(m.modified)))},
          {"size", m.size},
          {"digest", m.digest},
          {"details", DetailsJson(m)}};
}

}  // namespace modeld::api::ollama
