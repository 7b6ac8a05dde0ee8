#include "api/generic/wire.h"

#include <cmath>

#include "api/common/body.h"
#include "api/common/error_json.h"
#include "api/common/progress.h"
#include "core/json.h"
#include "core/redact.h"

namespace modeld::api::generic {

namespace {

using nlohmann::json;
using service::JobState;

json InstallationJson(const service::Model& m) {
  return {{"status", "success"},
          {"installed_at", Iso8601(m.installed_at)},
          {"model_id", m.ref.name + "_" + m.ref.version},
          {"ready_for_inference", m.status == "available"}};
}

// The seed's file_path: the file of a one-file model, else the model's directory.
std::string FilePath(const service::Model& m) { return m.OpenPath().string(); }

json ProgressObject(const service::JobEvent& ev, bool bytes) {
  json p = {
      {"percentage", Percent(ev.bytes_done, ev.bytes_total, ev.state == JobState::kCompleted)},
      {"downloaded_mb", MegaBytes(ev.bytes_done)},
      {"total_mb", MegaBytes(ev.bytes_total.value_or(0))},
      {"speed_mbps", MegaBytes(static_cast<uint64_t>(std::max(0.0, ev.bytes_per_second)))},
      {"eta_seconds", EtaSeconds(ev.eta_seconds)},
      {"current_stage", ev.stalled && ev.state == JobState::kDownloading
                            ? std::string_view("stalled")
                            : service::JobStateName(ev.state)}};
  if (bytes) {
    p["downloaded_bytes"] = ev.bytes_done;
    p["total_bytes"] = ev.bytes_total.value_or(0);
  }
  return p;
}

std::string_view Message(JobState s) {
  switch (s) {
    case JobState::kCompleted:
      return "Model downloaded and installed successfully";
    case JobState::kFailed:
      return "Download failed";
    case JobState::kCancelled:
      return "Download cancelled";
    case JobState::kPaused:
      return "Download paused";
    case JobState::kQueued:
      return "Download queued";
    case JobState::kResolving:
    case JobState::kDownloading:
    case JobState::kVerifying:
    case JobState::kInstalling:
      return "Download in progress";
  }
  return "Download in progress";
}

// A failed or cancelled job's "error" (its message) and the above.
void AddError(json& j, const Status& s) {
  j["error"] = RedactText(s.message());
  AddErrorCode(j, s);
}

// A job's per-file progress (a dashboard's rows), when the plan has files.
void AddFiles(json& j, const service::JobEvent& ev) {
  if (ev.files.empty()) return;
  json files = json::array();
  for (const auto& f : ev.files) {
    json fj = {{"path", f.path},
               {"digest", f.digest},
               {"downloaded_bytes", f.done},
               {"state", service::JobStateName(f.state)},
               {"reused", f.reused}};
    fj["total_bytes"] = f.total ? json(*f.total) : json(nullptr);
    files.push_back(std::move(fj));
  }
  j["files"] = std::move(files);
}

}  // namespace

http::status HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return http::status::ok;
    case Status::Code::kInvalidArgument:
      return http::status::bad_request;
    case Status::Code::kNotFound:
      return http::status::not_found;
    case Status::Code::kAlreadyExists:
      return http::status::conflict;
    case Status::Code::kFailedPrecondition:
      return http::status::conflict;
    case Status::Code::kNoSpace:
      return http::status::payload_too_large;
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

Response ErrorFor(const Status& s) {
  json j = {{"detail", RedactText(s.message())}};
  AddErrorCode(j, s);
  // The request field a refusal is about ("Invalid parameter 'version': ..."), so a form
  // can show the error beside it.
  constexpr std::string_view kField = "Invalid parameter '";
  if (s.code() == Status::Code::kInvalidArgument && s.message().rfind(kField, 0) == 0) {
    size_t end = s.message().find('\'', kField.size());
    if (end != std::string::npos)
      j["field"] = s.message().substr(kField.size(), end - kField.size());
  }
  return JsonResponse(HttpStatusFor(s), DumpJson(j));
}

std::string_view SeedStatus(JobState state) {
  switch (state) {
    case JobState::kQueued:
    case JobState::kResolving:
      return "started";
    case JobState::kDownloading:
    case JobState::kVerifying:
    case JobState::kInstalling:
      return "downloading";
    case JobState::kPaused:
      return "paused";
    case JobState::kCompleted:
      return "completed";
    case JobState::kCancelled:
    case JobState::kFailed:
      return "failed";
  }
  return "failed";
}

const char* const kDownloadRequestSchema = R"json({
  "type": "object",
  "required": ["model_name"],
  "properties": {
    "model_name": {"type": "string", "description": "The model's name (a catalog name, org/name)"},
    "version": {"type": "string", "default": "latest"},
    "download_url": {"type": "string", "description": "An http(s) URL to download from"},
    "source": {"type": "string", "default": "default"},
    "checksum": {"type": "string", "description": "sha256:HEX (also sha512, sha1, md5)"},
    "force_download": {"type": "boolean", "default": false},
    "wait": {"type": "boolean", "default": false, "description": "Answer when the download ends"},
    "options": {
      "type": "object",
      "properties": {
        "chunk_size": {"type": "integer", "minimum": 1, "maximum": 67108864},
        "timeout": {"type": "integer", "minimum": 1, "maximum": 604800,
                    "description": "Seconds without progress before a download fails"},
        "retry_count": {"type": "integer", "minimum": 0, "maximum": 100},
        "retry_for": {"type": "integer", "minimum": 0, "maximum": 604800},
        "verify_ssl": {"type": "boolean", "default": true},
        "extract_after_download": {"type": "boolean", "default": true},
        "cleanup_temp_files": {"type": "boolean", "default": true},
        "max_rate": {"type": "integer", "minimum": 0, "maximum": 1000000000000,
                     "description": "Bytes a second for this download, all its files together (0: no limit of its own); PATCH /model-download/{id} changes it"}
      }
    },
    "include": {"type": "array", "items": {"type": "string"}, "description": "Glob patterns"},
    "exclude": {"type": "array", "items": {"type": "string"}, "description": "Glob patterns"},
    "quantization": {"type": "string", "description": "A GGUF quantization (Q4_K_M)"},
    "revision": {"type": "string", "description": "A Hub revision"},
    "from": {"type": "string", "description": "What to look up: a Hub repository or catalog model"},
    "priority": {"type": "integer", "minimum": -100, "maximum": 100, "default": 0},
    "metadata": {"type": "object", "description": "Kept with the model (description, tags)"}
  }
})json";

Result<DownloadRequest> ParseDownloadRequest(std::string_view body, bool wait_query) {
  auto parsed = BodyReader::Parse(body);
  if (!parsed.has_value()) return parsed.error();
  BodyReader& b = *parsed;
  DownloadRequest out;
  auto& p = out.pull;
  std::string name, version = "latest", url, checksum, source = "default";
  bool force = false;
  b.Str("model_name", &name, true) && b.Str("version", &version) && b.Str("download_url", &url) &&
      b.Str("source", &source) && b.Str("checksum", &checksum) &&
      b.Bool("force_download", &force) && b.Bool("wait", &out.wait);
  if (!b.ok()) return b.error();
  if (name.empty()) return Status::InvalidArgument("Invalid parameter 'model_name': empty");
  if (version.empty()) version = "latest";
  if (Status s = ValidateModelName(name); !s.ok()) {
    return Status::InvalidArgument("Invalid parameter 'model_name': " + s.message());
  }
  if (Status s = ValidateVersion(version); !s.ok()) {
    return Status::InvalidArgument("Invalid parameter 'version': " + s.message());
  }
  p.ref = {name, version};
  p.force = force;
  p.source = source;
  if (!url.empty()) {
    if (!service::IsHttpUrl(url)) {
      return Status::InvalidArgument("Invalid parameter 'download_url': not an http(s) URL");
    }
    p.url = url;
  }
  if (!checksum.empty()) {
    auto c = ParseChecksum(checksum);
    if (!c.has_value())
      return Status::InvalidArgument("Invalid parameter 'checksum': " + c.error().message());
    p.checksum = *c;
  }
  if (auto o = b.Object("options")) {
    int64_t chunk = -1, timeout = -1, retries = -1, retry_for = -1, max_rate = -1;
    bool verify = true, extract = true, cleanup = true;
    o->Int("chunk_size", 1, 64 << 20, &chunk) && o->Int("timeout", 1, 7 * 24 * 3600, &timeout) &&
        o->Int("retry_count", 0, 100, &retries) &&
        o->Int("retry_for", 0, 7 * 24 * 3600, &retry_for) && o->Bool("verify_ssl", &verify) &&
        o->Bool("extract_after_download", &extract) && o->Bool("cleanup_temp_files", &cleanup) &&
        o->Int("max_rate", 0, kMaxRate, &max_rate);
    if (max_rate > 0 && max_rate < kMinRate) {
      o->Fail("max_rate", "must be 0 (no limit) or at least 1024 bytes a second");
    }
    if (!o->ok()) return o->error();
    // chunk_size: the receive buffer. timeout: seconds without progress: a connection
    // that sends nothing that long is replaced, and a download that makes no progress
    // that long (across reconnects) fails. A whole-download limit would kill large models.
    if (chunk > 0) p.options.buffer_size = static_cast<size_t>(std::max<int64_t>(chunk, 16384));
    if (timeout > 0) {
      p.options.stall_timeout = std::chrono::seconds(timeout);
      p.options.progress_timeout = std::chrono::seconds(timeout);
    }
    // retry_count: also at most this many retries in a row. retry_for: seconds a failing
    // connection keeps retrying (default: the server's --retry-for, else 2 min).
    if (retries >= 0) p.options.retry_count = static_cast<int>(retries);
    if (retry_for >= 0) p.options.retry_for = std::chrono::seconds(retry_for);
    p.options.verify_ssl = verify;
    // max_rate: bytes a second for this download, all its files together (0: none).
    if (max_rate >= 0) p.options.max_rate = static_cast<uint64_t>(max_rate);
    p.extract = extract;
    p.keep_archive = !cleanup;
  }
  if (!b.ok()) return b.error();
  // Hub selection: include/exclude globs, a GGUF quantization, a revision; and what to
  // look up when it is not model_name:version (a Hub repository or catalog model).
  std::string from;
  b.StrList("include", &p.include, "glob patterns") &&
      b.StrList("exclude", &p.exclude, "glob patterns") && b.Str("quantization", &p.quantization) &&
      b.Str("revision", &p.revision) && b.Str("from", &from);
  if (!from.empty()) {
    auto lookup = ParseModelRef(from);
    if (!lookup.has_value()) {
      return Status::InvalidArgument("Invalid parameter 'from': " + lookup.error().message());
    }
    p.lookup = *lookup;
  }
  int64_t priority = 0;
  b.Int("priority", -100, 100, &priority);
  if (!b.ok()) return b.error();
  out.priority = static_cast<int>(priority);
  if (auto m = b.Object("metadata")) {
    const json& meta = m->json();
    for (const auto& [k, v] : meta.items()) p.metadata[k] = v;
    if (meta.contains("description") && meta["description"].is_string())
      p.description = meta["description"];
    if (meta.contains("tags") && meta["tags"].is_array()) {
      for (const auto& t : meta["tags"]) {
        if (t.is_string()) p.tags.push_back(t.get<std::string>());
      }
    }
  }
  if (!b.ok()) return b.error();
  if (wait_query) out.wait = true;
  return out;
}

const char* const kLoadRequestSchema = R"json({
  "type": "object",
  "properties": {
    "version": {"type": "string"},
    "mlock": {"type": "boolean", "default": false},
    "keep_alive": {"type": ["number", "string"],
                   "description": "Seconds, or a duration (\"5m\"); 0 unloads, negative never"}
  }
})json";

Result<LoadRequest> ParseLoadRequest(const std::string& name, std::string_view body,
                                     const std::string& version_query) {
  auto parsed = BodyReader::Parse(body, /*empty_is_object=*/true);
  if (!parsed.has_value()) return parsed.error();
  BodyReader& b = *parsed;
  LoadRequest out;
  std::string version = version_query;
  b.Str("version", &version) && b.Bool("mlock", &out.options.mlock);
  if (!b.ok()) return b.error();
  if (b.Has("keep_alive")) {
    auto keep = ReadKeepAlive(b.json()["keep_alive"]);
    if (!keep.has_value()) return keep.error();
    if (*keep) out.options.keep_alive = *keep;
  }
  // NAME or NAME:VERSION in the path; a version given otherwise wins.
  auto ref = name.find(':') != std::string::npos ? ParseModelRef(name)
                                                 : Result<ModelRef>(ModelRef{name, "latest"});
  if (!ref.has_value()) return Status::InvalidArgument("Invalid model: " + ref.error().message());
  out.ref = *ref;
  if (!version.empty()) out.ref.version = version;
  if (Status s = ValidateModelName(out.ref.name); !s.ok()) {
    return Status::InvalidArgument("Invalid model name: " + s.message());
  }
  if (Status s = ValidateVersion(out.ref.version); !s.ok()) {
    return Status::InvalidArgument("Invalid parameter 'version': " + s.message());
  }
  return out;
}

Result<GcRequest> ParseGcRequest(std::string_view body) {
  auto parsed = BodyReader::Parse(body, /*empty_is_object=*/true);
  if (!parsed.has_value()) return parsed.error();
  BodyReader& b = *parsed;
  GcRequest out;
  b.Bool("dry_run", &out.options.dry_run) && b.Bool("hf_cache", &out.options.hf_cache);
  if (!b.ok()) return b.error();
  if (const json* age =
          b.Has("partials_older_than_hours") ? &b.json()["partials_older_than_hours"] : nullptr;
      age && !age->is_null()) {
    if (!age->is_number() || !(age->get<double>() >= 0) || age->get<double>() > 24.0 * 365 * 100) {
      b.Fail("partials_older_than_hours", "must be a number of hours, 0 or more");
      return b.error();
    }
    out.partial_age = std::chrono::seconds(static_cast<int64_t>(age->get<double>() * 3600));
  }
  return out;
}

Result<LimitsRequest> ParseLimitsRequest(std::string_view body, bool settings) {
  auto parsed = BodyReader::Parse(body);
  if (!parsed.has_value()) return parsed.error();
  BodyReader& b = *parsed;
  LimitsRequest out;
  int64_t rate = -1, per_host = -1;
  b.Int("max_rate", 0, kMaxRate, &rate);
  if (settings) {
    b.Int("max_connections_per_host", 1, 256, &per_host);
  } else if (b.Has("max_connections_per_host")) {
    b.Fail("max_connections_per_host", "is a server setting (PATCH /settings), not a job's");
  }
  if (rate > 0 && rate < kMinRate) {
    b.Fail("max_rate", "must be 0 (no limit) or at least 1024 bytes a second");
  }
  if (!b.ok()) return b.error();
  if (rate >= 0) out.max_rate = static_cast<uint64_t>(rate);
  if (per_host >= 0) out.max_connections_per_host = static_cast<int>(per_host);
  if (!out.max_rate && !out.max_connections_per_host) {
    b.Fail("max_rate", settings ? "give max_rate or max_connections_per_host" : "is required");
    return b.error();
  }
  return out;
}

json StartedJson(const service::Submission& s) {
  const auto& job = s.job;
  const auto& plan = job.plan;
  json j;
  j["status"] = "started";
  j["message"] = s.joined ? "Model download already in progress" : "Model download started";
  j["download_id"] = job.id;
  j["model_name"] = job.request.ref.name;
  j["version"] = job.request.ref.version;
  auto size = plan.total_bytes;
  j["estimated_size_mb"] = size ? json(MegaBytes(*size)) : json(nullptr);
  // At 50 MB/s until the first downloads teach us better.
  j["estimated_duration_seconds"] =
      size ? json(static_cast<int64_t>(std::ceil(*size / 50e6))) : json(nullptr);
  j["download_url"] = RedactUrl(job.request.url.empty() ? plan.first_url : job.request.url);
  j["source"] = plan.source;
  j["files"] = plan.files;
  j["progress_endpoint"] = "/model-download/" + job.id + "/progress";
  return j;
}

json ProgressJson(const service::Job& job) {
  const auto& ev = job.last;
  json j;
  j["download_id"] = job.id;
  j["model_name"] = job.request.ref.name;
  j["version"] = job.request.ref.version;
  j["status"] = SeedStatus(ev.state);
  j["state"] = service::JobStateName(ev.state);
  j["progress"] = ProgressObject(ev, true);
  j["priority"] = job.priority;
  j["max_rate"] = job.request.options.max_rate;
  j["created_at"] = job.created_at;
  if (job.queue_position > 0) j["queue_position"] = job.queue_position;
  j["message"] = Message(ev.state);
  if (ev.state == JobState::kCompleted && job.result) {
    j["installation"] = InstallationJson(*job.result);
    j["file_path"] = FilePath(*job.result);
  } else if (ev.state == JobState::kFailed || ev.state == JobState::kCancelled) {
    AddError(j, ev.status);
  }
  j["download_url"] = RedactUrl(job.request.url.empty() ? job.plan.first_url : job.request.url);
  AddFiles(j, ev);
  return j;
}

json CompletedJson(const service::Job& job) {
  const auto& m = *job.result;
  json j;
  j["status"] = "completed";
  j["message"] = "Model downloaded and installed successfully";
  j["download_id"] = job.id;
  j["model_name"] = m.ref.name;
  j["version"] = m.ref.version;
  j["file_path"] = FilePath(m);
  j["model_path"] = m.path.string();
  j["file_size_mb"] = MegaBytes(m.size);
  j["download_duration_seconds"] =
      static_cast<double>(std::max<int64_t>(0, job.finished_at - job.started_at));
  j["checksum_verified"] = job.request.checksum.has_value();
  j["sha256"] = m.files.empty() ? "" : m.files[0].sha256;
  j["installation"] = InstallationJson(m);
  return j;
}

json EventJson(const service::JobEvent& ev) {
  json j = {{"download_id", ev.job_id},
            {"model_name", ev.model.name},
            {"version", ev.model.version},
            {"status", SeedStatus(ev.state)},
            {"state", service::JobStateName(ev.state)},
            {"progress", ProgressObject(ev, true)}};
  if (!ev.status.ok()) AddError(j, ev.status);
  if (ev.retry) {
    j["notice"] = {{"kind", "retry"},
                   {"file", ev.retry->file},
                   {"reason", RedactText(ev.retry->reason)},
                   {"delay_ms", ev.retry->delay.count()},
                   {"attempt", ev.retry->attempt}};
  } else if (ev.waiting) {
    j["notice"] = {{"kind", "waiting"},
                   {"pid", ev.waiting->pid},
                   {"this_process", ev.waiting->this_process},
                   {"what", ev.waiting->what}};
  }
  AddFiles(j, ev);
  return j;
}

json ModelJson(const service::Model& m) {
  json j = m.ToJson();
  j["size_mb"] = MegaBytes(m.size);
  if (m.loaded && m.status == "available") j["status"] = "loaded";
  return j;
}

json LoadedJson(const service::LoadResult& r) {
  json j = ModelJson(r.model);
  j["loaded"] = r.model.loaded ? r.model.loaded->ToJson() : json(nullptr);
  j["joined"] = r.joined;
  j["load_ms"] = r.load_time.count();
  if (!r.loaded) j["status"] = "unloaded";  // keep_alive 0
  return j;
}

}  // namespace modeld::api::generic
