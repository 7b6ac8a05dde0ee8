#include "api/jan/wire.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "api/common/body.h"
#include "api/common/error_json.h"
#include "core/json.h"
#include "core/redact.h"
#include "core/text.h"

namespace modeld::api::jan {

namespace {

using nlohmann::json;
using service::JobState;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// |j|[key] when it is an object, else {}.
json ObjectAt(const json& j, const char* key) {
  if (!j.is_object()) return json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : json::object();
}

// The installed file a runtime opens: the first GGUF file (the first part of a split one),
// else the one file, else the model's directory.
std::string ModelFilePath(const service::Model& m) {
  std::vector<const service::ModelFile*> gguf;
  for (const auto& f : m.files) {
    if (EndsWith(AsciiLower(f.path), ".gguf")) gguf.push_back(&f);
  }
  if (!gguf.empty()) {
    auto first = std::min_element(gguf.begin(), gguf.end(),
                                  [](const auto* a, const auto* b) { return a->path < b->path; });
    return (m.path / (*first)->path).string();
  }
  return m.OpenPath().string();
}

double Fraction(uint64_t done, std::optional<uint64_t> total, bool completed) {
  if (completed) return 1.0;
  if (!total || *total == 0) return 0.0;
  return std::min(1.0, static_cast<double>(done) / static_cast<double>(*total));
}

}  // namespace

std::string JanId(const ModelRef& ref) {
  return ref.version == "latest" ? ref.name : ref.ToString();
}

Result<ModelRef> ParseJanId(std::string_view id) {
  auto ref = ParseModelRef(id);
  if (!ref.has_value()) {
    return Status::InvalidArgument("'" + std::string(id) +
                                   "' is not a model id: " + ref.error().message());
  }
  return ref;
}

std::string_view StateOf(const Entry& e) {
  if (e.installed && e.installed->status == "available") {
    return e.installed->loaded ? "running" : "downloaded";
  }
  if (e.job && !e.job->last.terminal()) return "downloading";
  return "not_downloaded";
}

json ModelJson(const Entry& e) {
  const json base = e.catalog && e.catalog->jan.is_object() ? e.catalog->jan : json::object();
  const service::Model* m = e.installed ? &*e.installed : nullptr;
  const service::ModelInspection* in =
      m != nullptr && m->inspection && m->inspection->error.empty() ? &*m->inspection : nullptr;
  json j = base;
  j["id"] = JanId(e.ref);
  j["object"] = "model";
  if (!base.contains("name") || !base["name"].is_string()) j["name"] = JanId(e.ref);
  if (!base.contains("version") || !base["version"].is_string()) j["version"] = "1.0";

  // Format: the catalog's word, else what was found inside, else the files' extension.
  std::string format =
      base.value("format", json()).is_string() ? base["format"].get<std::string>() : std::string();
  if (format.empty() && in != nullptr) format = in->format;
  if (format.empty() && m != nullptr) {
    for (const auto& f : m->files) {
      if (EndsWith(AsciiLower(f.path), ".gguf")) format = "gguf";
    }
  }
  j["format"] = format;

  // Sources: the model.json's own, else the installed files (where a runtime reads them).
  if (!base.contains("sources") || !base["sources"].is_array()) {
    json sources = json::array();
    if (m != nullptr) {
      for (const auto& f : m->files) {
        sources.push_back({{"filename", f.path}, {"url", "file://" + (m->path / f.path).string()}});
      }
    } else if (e.job) {
      for (const auto& f : e.job->plan.file_list) {
        sources.push_back({{"filename", f.path}, {"url", RedactUrl(f.url)}});
      }
    }
    j["sources"] = std::move(sources);
  }

  json settings = ObjectAt(base, "settings");
  if (in != nullptr && in->context_length > 0 && !settings.contains("ctx_len")) {
    settings["ctx_len"] = in->context_length;
  }
  if (m != nullptr && m->status == "available" && !m->files.empty()) {
    settings["llama_model_path"] = ModelFilePath(*m);
  }
  j["settings"] = std::move(settings);
  j["parameters"] = ObjectAt(base, "parameters");

  json metadata = ObjectAt(base, "metadata");
  if (!metadata.contains("author") || !metadata["author"].is_string()) {
    size_t slash = e.ref.name.find('/');
    metadata["author"] = slash == std::string::npos ? "modeld" : e.ref.name.substr(0, slash);
  }
  std::vector<std::string> tags = m != nullptr ? m->tags
                                  : e.catalog  ? e.catalog->tags
                                               : std::vector<std::string>();
  if (!metadata.contains("tags") || !metadata["tags"].is_array()) metadata["tags"] = tags;
  if (m != nullptr && m->size > 0) {
    metadata["size"] = m->size;
  } else if (e.job && e.job->last.bytes_total) {
    metadata["size"] = *e.job->last.bytes_total;
  } else if (!metadata.contains("size") || !metadata["size"].is_number()) {
    metadata["size"] = 0;
  }
  j["metadata"] = std::move(metadata);

  if (!base.contains("engine") || !base["engine"].is_string()) {
    j["engine"] = format == "gguf" ? "llama-cpp" : "";
  }
  if (m != nullptr) {
    j["created"] = m->created_at ? m->created_at : m->installed_at;
  } else if (!base.contains("created") || !base["created"].is_number()) {
    j["created"] = e.job ? e.job->created_at : 0;
  }
  std::string description = m != nullptr && !m->description.empty() ? m->description
                            : e.catalog                             ? e.catalog->description
                                                                    : std::string();
  if (!base.contains("description") || !base["description"].is_string() || m != nullptr) {
    j["description"] = description;
  }
  const std::string_view state = StateOf(e);
  j["state"] = state;
  j["status"] = state == "running" ? "downloaded" : state;
  return j;
}

std::string_view DownloadStateWord(JobState state) {
  switch (state) {
    case JobState::kQueued:
    case JobState::kResolving:
    case JobState::kDownloading:
    case JobState::kVerifying:
    case JobState::kInstalling:
    case JobState::kPaused:
      return "downloading";
    case JobState::kCompleted:
      return "end";
    case JobState::kFailed:
    case JobState::kCancelled:
      return "error";
  }
  return "error";
}

json DownloadState(const service::Job& job, int64_t now) {
  const service::JobEvent& ev = job.last;
  const bool completed = ev.state == JobState::kCompleted;
  const std::string id = JanId(job.request.ref);
  const int64_t start = job.started_at ? job.started_at : job.created_at;
  const int64_t end = job.finished_at ? job.finished_at : now;
  const double remaining = ev.eta_seconds ? std::ceil(*ev.eta_seconds) : 0.0;
  std::optional<uint64_t> total = ev.bytes_total;
  if (completed && !total) total = ev.bytes_done;
  json j = {
      {"modelId", id},
      {"fileName", ev.files.empty() ? id : ev.files.front().path},
      {"time", {{"elapsed", std::max<int64_t>(0, end - start)}, {"remaining", remaining}}},
      {"speed", ev.bytes_per_second},
      {"percent", Fraction(ev.bytes_done, total, completed)},
      {"size", {{"total", total.value_or(0)}, {"transferred", ev.bytes_done}}},
      {"downloadState", DownloadStateWord(ev.state)},
  };
  json children = json::array();
  for (const auto& f : ev.files) {
    const bool file_done = completed || f.state == JobState::kCompleted;
    std::optional<uint64_t> ftotal = f.total;
    if (file_done && !ftotal) ftotal = f.done;
    children.push_back({{"modelId", id},
                        {"fileName", f.path},
                        {"speed", f.bytes_per_second},
                        {"percent", Fraction(f.done, ftotal, file_done)},
                        {"size", {{"total", ftotal.value_or(0)}, {"transferred", f.done}}},
                        {"downloadState", file_done ? "end" : DownloadStateWord(ev.state)}});
  }
  j["children"] = std::move(children);
  if (ev.state == JobState::kFailed || ev.state == JobState::kCancelled) {
    j["error"] = RedactText(!ev.status.ok()                    ? ev.status.message()
                            : !job.error.ok()                  ? job.error.message()
                            : ev.state == JobState::kCancelled ? std::string("cancelled")
                                                               : std::string("failed"));
  }
  return j;
}

std::vector<TaskItem> TaskItems(const service::PlanSummary& plan,
                                const std::vector<service::FileProgress>& files, bool completed,
                                const std::filesystem::path& model_dir) {
  std::vector<TaskItem> out;
  std::map<std::string, size_t> at;
  for (const auto& f : plan.file_list) {
    at[f.path] = out.size();
    out.push_back({f.path, RedactUrl(f.url), (model_dir / f.path).string(), f.size.value_or(0), 0});
  }
  for (const auto& f : files) {
    auto it = at.find(f.path);
    if (it == at.end()) {
      at[f.path] = out.size();
      out.push_back({f.path, "", (model_dir / f.path).string(), 0, 0});
      it = at.find(f.path);
    }
    TaskItem& item = out[it->second];
    if (f.total) item.bytes = *f.total;
    item.downloaded = f.done;
  }
  for (auto& item : out) {
    if (completed) {
      if (item.bytes == 0) item.bytes = item.downloaded;
      item.downloaded = item.bytes;
    }
    if (item.download_url.empty() && out.size() == 1) item.download_url = RedactUrl(plan.first_url);
  }
  return out;
}

json TaskJson(const std::string& id, const std::vector<TaskItem>& items) {
  json arr = json::array();
  for (const auto& i : items) {
    arr.push_back({{"id", i.id},
                   {"downloadUrl", i.download_url},
                   {"localPath", i.local_path},
                   {"checksum", "N/A"},
                   {"bytes", i.bytes},
                   {"downloadedBytes", i.downloaded}});
  }
  return {{"id", id}, {"type", "Model"}, {"items", std::move(arr)}};
}

std::string_view EventType(JobState state, bool first) {
  switch (state) {
    case JobState::kQueued:
    case JobState::kResolving:
    case JobState::kDownloading:
    case JobState::kVerifying:
    case JobState::kInstalling:
    case JobState::kPaused:
      return first ? "DownloadStarted" : "DownloadUpdated";
    case JobState::kCompleted:
      return "DownloadSuccess";
    case JobState::kFailed:
      return "DownloadError";
    case JobState::kCancelled:
      return "DownloadStopped";
  }
  return "DownloadError";
}

Result<PullBody> ParsePullBody(std::string_view body) {
  auto reader = BodyReader::Parse(body);
  if (!reader.has_value()) return reader.error();
  PullBody out;
  reader->Str("model", &out.model, /*required=*/true);
  reader->Str("id", &out.id);
  reader->Str("name", &out.name);
  if (!reader->ok()) return reader->error();
  if (out.model.empty()) return Status::InvalidArgument("Invalid parameter 'model': empty");
  return out;
}

std::optional<std::string> CortexHubTarget(std::string_view model) {
  if (model.find("://") != std::string_view::npos) return std::nullopt;
  size_t a = model.find(':');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = model.find(':', a + 1);
  if (b == std::string_view::npos || model.find(':', b + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view author = model.substr(0, a), repo = model.substr(a + 1, b - a - 1),
                   file = model.substr(b + 1);
  if (author.empty() || repo.empty() || file.empty() ||
      author.find('/') != std::string_view::npos || repo.find('/') != std::string_view::npos) {
    return std::nullopt;
  }
  return "hf://" + std::string(author) + "/" + std::string(repo) + "/" + std::string(file);
}

Result<service::PullRequest> PullRequestFor(const PullBody& body, bool jan_catalog) {
  service::PullRequest req;
  std::string target = body.model;
  if (auto hub = CortexHubTarget(body.model)) target = *hub;
  if (Status s = service::ParsePullTarget(target, body.id, &req); !s.ok()) {
    return Status::InvalidArgument("Invalid parameter 'model': " + s.message());
  }
  if (jan_catalog) req.source = "jan";
  return req;
}

Result<std::string> ParseCancelBody(std::string_view body) {
  auto reader = BodyReader::Parse(body);
  if (!reader.has_value()) return reader.error();
  std::string id;
  if (!reader->Str("taskId", &id, /*required=*/true)) return reader->error();
  if (id.empty()) return Status::InvalidArgument("Invalid parameter 'taskId': empty");
  return id;
}

Result<std::string> ParseStartBody(std::string_view body, const std::string& path_id) {
  auto reader = BodyReader::Parse(body, /*empty_is_object=*/true);
  if (!reader.has_value()) return reader.error();
  if (!path_id.empty()) return path_id;
  std::string id;
  if (!reader->Str("model", &id, /*required=*/true)) return reader->error();
  if (id.empty()) return Status::InvalidArgument("Invalid parameter 'model': empty");
  return id;
}

http::status HttpStatusFor(const Status& s) {
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
      return http::status::service_unavailable;
    case Status::Code::kIoError:
    case Status::Code::kCorrupt:
    case Status::Code::kCancelled:
    case Status::Code::kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

Response ErrorBody(http::status status, const std::string& message) {
  return JsonResponse(status, DumpJson(json{{"message", RedactText(message)}}));
}

Response ErrorFor(const Status& s) {
  json j = {{"message", RedactText(s.message())}};
  AddErrorCode(j, s);
  return JsonResponse(HttpStatusFor(s), DumpJson(j));
}

}  // namespace modeld::api::jan
