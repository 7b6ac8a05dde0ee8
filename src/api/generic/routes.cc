#include "api/generic/routes.h"

#include <atomic>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/json.h"
#include "core/fs.h"
#include "core/redact.h"
#include "core/time_format.h"
#include "net/http.h"
#include "net/probe.h"
#include "service/model_service.h"
#include "core/names.h"

namespace modeld::api::generic {

namespace {

using nlohmann::json;
constexpr double kMB = 1e6;  // the API's "MB" is decimal, as in speed_mbps

double Mb(uint64_t bytes) { return std::round(static_cast<double>(bytes) / kMB * 100) / 100; }

std::string Iso8601(int64_t t) { return FormatUtc(t, "%Y-%m-%dT%H:%M:%S.000Z"); }

Response Json(http::status status, const json& j) { return JsonResponse(status, j.dump()); }

// Errors may quote a URL the client gave, credentials and all: never echo those.
Response Error(const Status& s) { return ErrorResponse(HttpStatusFor(s), RedactText(s.message())); }

// The seed's clients poll until status is completed or failed: a cancelled job reports
// failed (with its stage saying cancelled), so they stop.
std::string SeedStatus(const std::string& state) {
  if (state == "cancelled") return "failed";
  if (state == "queued" || state == "resolving") return "started";
  if (state == "verifying" || state == "installing") return "downloading";
  return state;  // downloading, paused, completed, failed
}

json InstallationJson(const store::ModelInfo& m) {
  return {{"status", "success"},
          {"installed_at", Iso8601(m.installed_at)},
          {"model_id", m.ref.name + "_" + m.ref.version},
          {"ready_for_inference", m.status == "available"}};
}

// The seed's file_path: the file of a one-file model, else the model's directory.
std::string FilePath(const store::ModelInfo& m) {
  return m.files.size() == 1 ? (m.path / m.files[0].path).string() : m.path.string();
}

json ProgressJson(const service::Job& job) {
  const auto& ev = job.last;
  json j;
  j["download_id"] = job.id;
  j["model_name"] = job.request.ref.name;
  j["version"] = job.request.ref.version;
  j["status"] = SeedStatus(ev.state);
  j["state"] = ev.state;
  uint64_t total = ev.bytes_total.value_or(0);
  double pct = total > 0 ? 100.0 * static_cast<double>(ev.bytes_done) / static_cast<double>(total)
                         : (ev.state == "completed" ? 100.0 : 0.0);
  json progress = {{"percentage", std::round(pct * 10) / 10},
                   {"downloaded_mb", Mb(ev.bytes_done)},
                   {"total_mb", Mb(total)},
                   {"speed_mbps", std::round(ev.bytes_per_second / kMB * 100) / 100},
                   {"eta_seconds", ev.eta_seconds ? static_cast<int64_t>(std::ceil(*ev.eta_seconds)) : 0},
                   {"current_stage", ev.state}};
  j["progress"] = progress;
  if (ev.state == "completed" && job.result) {
    j["message"] = "Model downloaded and installed successfully";
    j["installation"] = InstallationJson(*job.result);
    j["file_path"] = FilePath(*job.result);
  } else if (ev.state == "failed" || ev.state == "cancelled") {
    j["message"] = ev.state == "cancelled" ? "Download cancelled" : "Download failed";
    j["error"] = ev.error;
    j["error_code"] = ev.error_code;
  } else if (ev.state == "paused") {
    j["message"] = "Download paused";
  } else if (ev.state == "queued") {
    j["message"] = "Download queued";
  } else {
    j["message"] = "Download in progress";
  }
  const auto& rq = job.request;
  j["download_url"] =
      RedactUrl(rq.url.empty() && rq.plan && !rq.plan->files.empty() ? rq.plan->files.front().url : rq.url);
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
  j["file_size_mb"] = Mb(m.size);
  j["download_duration_seconds"] =
      static_cast<double>(std::max<int64_t>(0, job.finished_at - job.started_at));
  j["checksum_verified"] = job.request.checksum.has_value();
  j["sha256"] = m.files.empty() ? "" : m.files[0].sha256;
  j["installation"] = InstallationJson(m);
  return j;
}

// Field checks for the POST body: a wrong type is a 400 that names the field.
struct Body {
  const json& j;
  std::string error;
  bool Str(const char* key, std::string* out, bool required = false) {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) error = "Invalid parameter '" + std::string(key) + "': required";
      return !required;
    }
    if (!j[key].is_string()) {
      error = "Invalid parameter '" + std::string(key) + "': must be a string";
      return false;
    }
    *out = j[key].get<std::string>();
    return true;
  }
  bool Bool(const json& obj, const std::string& key, bool* out, const std::string& where) {
    if (!obj.contains(key) || obj[key].is_null()) return true;
    if (!obj[key].is_boolean()) {
      error = "Invalid parameter '" + where + key + "': must be a boolean";
      return false;
    }
    *out = obj[key].get<bool>();
    return true;
  }
  bool Int(const json& obj, const std::string& key, int64_t min, int64_t max, int64_t* out,
           const std::string& where) {
    if (!obj.contains(key) || obj[key].is_null()) return true;
    if (!obj[key].is_number_integer()) {
      error = "Invalid parameter '" + where + key + "': must be an integer";
      return false;
    }
    int64_t v = obj[key].get<int64_t>();
    if (v < min || v > max) {
      error = "Invalid parameter '" + where + key + "': must be between " + std::to_string(min) +
              " and " + std::to_string(max);
      return false;
    }
    *out = v;
    return true;
  }
};

struct DownloadRequest {
  service::PullRequest pull;
  int priority = 0;  // higher starts first when downloads queue
  bool wait = false;
  std::string source = "default";
};

// Parses and validates the POST body. Returns a 400 response on bad input.
std::optional<Response> ParseDownload(const Request& req, const Params& params, DownloadRequest* out) {
  auto parsed = ParseJson(req.body(), "Invalid JSON body");
  if (!parsed.has_value()) return ErrorResponse(http::status::bad_request, parsed.error().message());
  const json& j = *parsed;
  if (!j.is_object()) return ErrorResponse(http::status::bad_request, "The body must be a JSON object");
  Body b{j, ""};
  std::string name, version = "latest", url, checksum;
  bool force = false;
  if (!b.Str("model_name", &name, true) || !b.Str("version", &version) ||
      !b.Str("download_url", &url) || !b.Str("source", &out->source) ||
      !b.Str("checksum", &checksum) || !b.Bool(j, "force_download", &force, "") ||
      !b.Bool(j, "wait", &out->wait, "")) {
    return ErrorResponse(http::status::bad_request, b.error);
  }
  if (name.empty()) return ErrorResponse(http::status::bad_request, "Invalid parameter 'model_name': empty");
  if (version.empty()) version = "latest";
  if (Status s = ValidateModelName(name); !s.ok()) {
    return ErrorResponse(http::status::bad_request, "Invalid parameter 'model_name': " + s.message());
  }
  if (Status s = ValidateVersion(version); !s.ok()) {
    return ErrorResponse(http::status::bad_request, "Invalid parameter 'version': " + s.message());
  }
  auto& p = out->pull;
  p.ref = {name, version};
  p.force = force;
  if (!url.empty()) {
    if (net::UrlOrigin(url).empty()) {
      return ErrorResponse(http::status::bad_request,
                           "Invalid parameter 'download_url': not an http(s) URL");
    }
    p.url = url;
  }
  if (!checksum.empty()) {
    auto c = ParseChecksum(checksum);
    if (!c.has_value()) {
      return ErrorResponse(http::status::bad_request, "Invalid parameter 'checksum': " + c.error().message());
    }
    p.checksum = *c;
  }
  if (j.contains("options") && !j["options"].is_null()) {
    const json& o = j["options"];
    if (!o.is_object()) {
      return ErrorResponse(http::status::bad_request, "Invalid parameter 'options': must be an object");
    }
    int64_t chunk = -1, timeout = -1, retries = -1;
    bool verify = true, extract = true, cleanup = true;
    if (!b.Int(o, "chunk_size", 1, 64 << 20, &chunk, "options.") ||
        !b.Int(o, "timeout", 1, 7 * 24 * 3600, &timeout, "options.") ||
        !b.Int(o, "retry_count", 0, 100, &retries, "options.") ||
        !b.Bool(o, "verify_ssl", &verify, "options.") ||
        !b.Bool(o, "extract_after_download", &extract, "options.") ||
        !b.Bool(o, "cleanup_temp_files", &cleanup, "options.")) {
      return ErrorResponse(http::status::bad_request, b.error);
    }
    // chunk_size: the receive buffer. timeout: seconds without progress before a
    // connection is replaced, and before the download fails however often it reconnects
    // (a whole-download limit would kill large models).
    if (chunk > 0) p.options.buffer_size = static_cast<size_t>(std::max<int64_t>(chunk, 16384));
    if (timeout > 0) p.options.stall_timeout = p.options.progress_timeout = std::chrono::seconds(timeout);
    if (retries >= 0) p.options.retry_count = static_cast<int>(retries);
    p.options.verify_ssl = verify;
    p.extract = extract;
    p.keep_archive = !cleanup;
  }
  // Hub selection: include/exclude globs, a GGUF quantization, a revision.
  for (const char* key : {"include", "exclude"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    auto& list = std::string(key) == "include" ? p.include : p.exclude;
    const json& v = j[key];
    if (v.is_string()) {
      list.push_back(v.get<std::string>());
      continue;
    }
    bool ok = v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
    if (!ok) {
      return ErrorResponse(http::status::bad_request,
                           "Invalid parameter '" + std::string(key) + "': must be a list of glob patterns");
    }
    for (const auto& e : v) list.push_back(e.get<std::string>());
  }
  if (!b.Str("quantization", &p.quantization) || !b.Str("revision", &p.revision)) {
    return ErrorResponse(http::status::bad_request, b.error);
  }
  int64_t priority = 0;
  if (!b.Int(j, "priority", -100, 100, &priority, "")) {
    return ErrorResponse(http::status::bad_request, b.error);
  }
  out->priority = static_cast<int>(priority);
  if (j.contains("metadata") && !j["metadata"].is_null()) {
    const json& m = j["metadata"];
    if (!m.is_object()) {
      return ErrorResponse(http::status::bad_request, "Invalid parameter 'metadata': must be an object");
    }
    for (const auto& [k, v] : m.items()) p.metadata[k] = v;
    if (m.contains("description") && m["description"].is_string()) p.description = m["description"];
    if (m.contains("tags") && m["tags"].is_array()) {
      for (const auto& t : m["tags"]) {
        if (t.is_string()) p.tags.push_back(t.get<std::string>());
      }
    }
  }
  if (params.Query("wait") == "true" || params.Query("wait") == "1") out->wait = true;
  p.source = out->source;
  return std::nullopt;
}

// Answers once the job ends: the completed shape, or the failure as an error.
void AnswerWhenDone(Context& ctx, const std::string& job_id, Responder respond) {
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto sub = std::make_shared<uint64_t>(0);
  auto finish = [&ctx, job_id, respond, answered, sub]() {
    if (answered->exchange(true)) return;
    auto job = ctx.jobs.Get(job_id);
    if (!job.has_value()) return respond(Error(job.error()));
    if (job->last.state == "completed" && job->result) {
      return respond(Json(http::status::ok, CompletedJson(*job)));
    }
    Status s = job->error.ok() ? Status::Cancelled("Download cancelled") : job->error;
    if (job->last.state == "cancelled") {
      return respond(ErrorResponse(http::status::internal_server_error, "Download failed: cancelled by user"));
    }
    // The request itself was valid (it was checked up front): what the download met
    // (a refused archive entry, say) is the server's 500 with its cause.
    http::status code = s.code() == Status::Code::kInvalidArgument ? http::status::internal_server_error
                                                                    : HttpStatusFor(s);
    std::string msg = RedactText(s.message());
    return respond(ErrorResponse(code, s.code() == Status::Code::kNoSpace ? msg : "Download failed: " + msg));
  };
  *sub = ctx.jobs.events().Subscribe([&ctx, job_id, finish, sub](const service::JobEvent& ev) {
    if (ev.job_id != job_id || !ev.terminal) return;
    ctx.jobs.events().Unsubscribe(*sub);
    // Events are published after the job manager's lock is released: answering here may
    // read the job again.
    finish();
  });
  // It may have ended before we subscribed.
  auto job = ctx.jobs.Get(job_id);
  if (job.has_value() && job->last.terminal) {
    ctx.jobs.events().Unsubscribe(*sub);
    finish();
  }
}

void StartDownload(Context& ctx, DownloadRequest dl, Responder respond) {
  auto& p = dl.pull;
  if (!p.force) {
    auto existing = ctx.models.store().Get(p.ref);
    if (existing.has_value()) {
      return respond(ErrorResponse(http::status::conflict,
                                   "Model '" + p.ref.name + "' version '" + p.ref.version +
                                       "' already exists. Use force_download=true to override."));
    }
  }
  // Resolve first: an unknown model or file is a 404, a gated one a 403 and a full disk
  // a 413 now, not later. The job reuses the plan.
  auto plan = ctx.models.Resolve(p);
  if (!plan.has_value()) return respond(Error(plan.error()));
  std::optional<uint64_t> size = plan->TotalSize();
  if (size) {
    // Only what is not on the disk yet: blobs we have and partial downloads cost nothing.
    uint64_t to_fetch = service::BytesToFetch(ctx.models.store(), p, *plan);
    if (Status s = service::CheckSpace(ctx.models.store(), to_fetch); !s.ok()) return respond(Error(s));
  }
  std::string first_url = plan->files.empty() ? p.url : plan->files.front().url;
  p.plan = std::make_shared<sources::Plan>(std::move(plan.value()));
  bool joined = false;
  auto job = ctx.jobs.Submit(p, dl.priority, &joined);
  if (!job.has_value()) return respond(Error(job.error()));
  if (dl.wait) return AnswerWhenDone(ctx, job->id, respond);
  json j;
  j["status"] = "started";
  j["message"] = joined ? "Model download already in progress" : "Model download started";
  j["download_id"] = job->id;
  j["model_name"] = p.ref.name;
  j["version"] = p.ref.version;
  j["estimated_size_mb"] = size ? json(Mb(*size)) : json(nullptr);
  // At 50 MB/s until the first downloads teach us better.
  j["estimated_duration_seconds"] = size ? json(static_cast<int64_t>(std::ceil(*size / (50 * kMB)))) : json(nullptr);
  j["download_url"] = RedactUrl(p.url.empty() ? first_url : p.url);
  j["source"] = p.plan->source;
  j["files"] = p.plan->files.size();
  j["progress_endpoint"] = "/model-download/" + job->id + "/progress";
  respond(Json(http::status::ok, j));
}

// A job event as the streams send it (the same fields as the progress endpoint).
json EventJson(const service::JobEvent& ev) {
  uint64_t total = ev.bytes_total.value_or(0);
  double pct = total > 0 ? 100.0 * static_cast<double>(ev.bytes_done) / static_cast<double>(total)
                         : (ev.state == "completed" ? 100.0 : 0.0);
  size_t colon = ev.model.rfind(':');
  json j = {{"download_id", ev.job_id},
            {"model_name", ev.model.substr(0, colon)},
            {"version", colon == std::string::npos ? "" : ev.model.substr(colon + 1)},
            {"status", SeedStatus(ev.state)},
            {"state", ev.state},
            {"progress",
             {{"percentage", std::round(pct * 10) / 10},
              {"downloaded_mb", Mb(ev.bytes_done)},
              {"total_mb", Mb(total)},
              {"downloaded_bytes", ev.bytes_done},
              {"total_bytes", total},
              {"speed_mbps", std::round(ev.bytes_per_second / kMB * 100) / 100},
              {"eta_seconds", ev.eta_seconds ? static_cast<int64_t>(std::ceil(*ev.eta_seconds)) : 0},
              {"current_stage", ev.state}}}};
  if (!ev.error.empty()) {
    j["error"] = ev.error;
    j["error_code"] = ev.error_code;
  }
  return j;
}

// SSE framing: "event: NAME" and one "data:" line of JSON.
std::string Sse(const std::string& name, const json& data) {
  return "event: " + name + "\ndata: " + data.dump() + "\n\n";
}

json ModelJson(const store::ModelInfo& m) {
  json j = m.ToJson();
  j["size_mb"] = Mb(m.size);
  return j;
}

}  // namespace

http::status HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return http::status::ok;
    case Status::Code::kInvalidArgument: return http::status::bad_request;
    case Status::Code::kNotFound: return http::status::not_found;
    case Status::Code::kAlreadyExists: return http::status::conflict;
    case Status::Code::kFailedPrecondition: return http::status::conflict;
    case Status::Code::kNoSpace: return http::status::payload_too_large;
    case Status::Code::kPermissionDenied: return http::status::forbidden;
    case Status::Code::kUnavailable: return http::status::service_unavailable;
    default: return http::status::internal_server_error;
  }
}

Dialect GenericDialect(Context& ctx) {
  Dialect d;
  d.name = "generic";
  d.routes = Routes(ctx);
  d.error_body = ErrorResponse;  // {"detail": message}
  d.compat_port = 8000;
  return d;
}

std::vector<Route> Routes(Context& ctx) {
  std::vector<Route> r;
  r.push_back({http::verb::get, "/healthz",
               [](const Request&, const Params&, Responder respond) {
                 respond(Json(http::status::ok, {{"status", "ok"}}));
               },
               nullptr, StreamKind::kSse, Lane::kInline, /*public_path=*/true});
  r.push_back({http::verb::get, "/version", [&ctx](const Request&, const Params&, Responder respond) {
                 respond(Json(http::status::ok, {{"version", ctx.version}, {"name", "modeld"}}));
               }});
  r.push_back({http::verb::post, "/model-download",
               [&ctx](const Request& req, const Params& params, Responder respond) {
                 DownloadRequest dl;
                 if (auto bad = ParseDownload(req, params, &dl)) return respond(std::move(*bad));
                 StartDownload(ctx, std::move(dl), respond);
               },
               nullptr, StreamKind::kSse, Lane::kNetwork});
  r.push_back({http::verb::get, "/model-download", [&ctx](const Request&, const Params&, Responder respond) {
                 json arr = json::array();
                 for (const auto& job : ctx.jobs.List()) arr.push_back(ProgressJson(job));
                 respond(Json(http::status::ok, {{"downloads", arr}}));
               }});
  r.push_back({http::verb::get, "/model-download/:id/progress",
               [&ctx](const Request&, const Params& p, Responder respond) {
                 auto job = ctx.jobs.Get(p.Path("id"));
                 if (!job.has_value()) return respond(Error(job.error()));
                 respond(Json(http::status::ok, ProgressJson(*job)));
               }});
  for (const char* action : {"cancel", "pause", "resume"}) {
    std::string act = action;
    r.push_back({http::verb::post, "/model-download/:id/" + act,
                 [&ctx, act](const Request&, const Params& p, Responder respond) {
                   const std::string& id = p.Path("id");
                   Status s = act == "cancel"  ? ctx.jobs.Cancel(id)
                              : act == "pause" ? ctx.jobs.Pause(id)
                                               : ctx.jobs.Resume(id);
                   if (!s.ok()) return respond(Error(s));
                   auto job = ctx.jobs.Get(id);
                   if (!job.has_value()) return respond(Error(job.error()));
                   json j = ProgressJson(*job);
                   j["requested"] = act;
                   respond(Json(http::status::ok, j));
                 },
               nullptr, StreamKind::kSse, Lane::kStore});
  }
  // Forgets a job: a running one is cancelled first (its partial download removed).
  r.push_back({http::verb::delete_, "/model-download/:id",
               [&ctx](const Request&, const Params& p, Responder respond) {
                 const std::string& id = p.Path("id");
                 if (Status s = ctx.jobs.Remove(id); !s.ok()) return respond(Error(s));
                 respond(Json(http::status::ok, {{"status", "removed"}, {"download_id", id}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // Live progress of one download as Server-Sent Events: "state" on each state change
  // (never dropped), "progress" about ten times a second (coalesced for slow readers),
  // and "done" last, after which the stream ends.
  r.push_back({http::verb::get, "/model-download/:id/events", nullptr,
               [&ctx](const Request&, const Params& p, StreamReply& reply) {
                 std::string id = p.Path("id");
                 auto job = ctx.jobs.Get(id);
                 if (!job.has_value()) return reply.Reject(Error(job.error()));
                 auto stream = reply.Start();
                 auto& bus = ctx.jobs.events();
                 auto sub = std::make_shared<uint64_t>(0);
                 *sub = bus.Subscribe([stream, id](const service::JobEvent& ev) {
                   if (ev.job_id != id) return;
                   if (ev.terminal) {
                     stream->Send("", Sse("done", EventJson(ev)));
                     stream->Close();
                   } else {
                     stream->Send(ev.state_change ? "" : "progress",
                                  Sse(ev.state_change ? "state" : "progress", EventJson(ev)));
                   }
                 });
                 stream->OnClose([&bus, sub] { bus.Unsubscribe(*sub); });
                 // Where it stands now (read after subscribing: nothing falls between);
                 // a job that already ended ends the stream.
                 job = ctx.jobs.Get(id);
                 if (!job.has_value()) return stream->Close();
                 stream->Send("", Sse(job->last.terminal ? "done" : "state", EventJson(job->last)));
                 if (job->last.terminal) stream->Close();
               }});
  // Every job's state changes and progress on one WebSocket: a JSON object per message,
  // with "type" state, progress or done.
  r.push_back({http::verb::get, "/ws", nullptr,
               [&ctx](const Request&, const Params&, StreamReply& reply) {
                 auto stream = reply.Start();
                 auto& bus = ctx.jobs.events();
                 auto sub = std::make_shared<uint64_t>(0);
                 *sub = bus.Subscribe([stream](const service::JobEvent& ev) {
                   json j = EventJson(ev);
                   j["type"] = ev.terminal ? "done" : ev.state_change ? "state" : "progress";
                   stream->Send(ev.terminal || ev.state_change ? "" : ev.job_id, j.dump());
                 });
                 stream->OnClose([&bus, sub] { bus.Unsubscribe(*sub); });
                 for (const auto& job : ctx.jobs.List()) {
                   json j = EventJson(job.last);
                   j["type"] = "snapshot";
                   stream->Send("", j.dump());
                 }
               },
               StreamKind::kWebSocket});
  r.push_back({http::verb::get, "/models", [&ctx](const Request&, const Params&, Responder respond) {
                 auto models = ctx.models.List();
                 if (!models.has_value()) return respond(Error(models.error()));
                 json arr = json::array();
                 for (const auto& m : *models) arr.push_back(ModelJson(m));
                 // Versions still downloading are models too. The seed's monitor script
                 // counts status "loading" as an active download, so that is the word here;
                 // download_state says precisely where it is.
                 for (const auto& job : ctx.jobs.List()) {
                   const auto& st = job.last.state;
                   if (job.last.terminal || st == "paused") continue;
                   arr.push_back({{"name", job.request.ref.name},
                                  {"version", job.request.ref.version},
                                  {"ref", job.request.ref.ToString()},
                                  {"status", "loading"},
                                  {"download_state", st},
                                  {"download_id", job.id},
                                  {"size", job.last.bytes_total.value_or(0)},
                                  {"size_mb", Mb(job.last.bytes_total.value_or(0))}});
                 }
                 respond(Json(http::status::ok, {{"models", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.push_back({http::verb::get, "/models/*name", [&ctx](const Request&, const Params& p, Responder respond) {
                 const std::string& name = p.Path("name");
                 if (Status s = ValidateModelName(name); !s.ok()) return respond(Error(s));
                 auto versions = ctx.models.Versions(name);
                 if (!versions.has_value()) return respond(Error(versions.error()));
                 if (versions->empty()) {
                   return respond(ErrorResponse(http::status::not_found, "Model '" + name + "' not found"));
                 }
                 json arr = json::array();
                 for (const auto& m : *versions) arr.push_back(ModelJson(m));
                 respond(Json(http::status::ok, {{"name", name}, {"versions", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.push_back({http::verb::delete_, "/models/*name", [&ctx](const Request&, const Params& p, Responder respond) {
                 const std::string& name = p.Path("name");
                 std::string version = p.Query("version");
                 auto removed = ctx.models.Remove(name, version);
                 if (!removed.has_value()) return respond(Error(removed.error()));
                 json arr = json::array();
                 for (const auto& ref : *removed) arr.push_back(ref.ToString());
                 respond(Json(http::status::ok, {{"status", "removed"}, {"removed", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.push_back({http::verb::get, "/cache", [&ctx](const Request&, const Params&, Responder respond) {
                 auto rep = ctx.models.Cache();
                 if (!rep.has_value()) return respond(Error(rep.error()));
                 json j = rep->ToJson(ctx.models.store().options());
                 j["total_size_mb"] = Mb(rep->blob_bytes);
                 respond(Json(http::status::ok, j));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // What can be pulled by name: every catalog's models, ?q= to search, ?source= for one.
  r.push_back({http::verb::get, "/catalog", [&ctx](const Request&, const Params& params, Responder respond) {
                 std::string q = params.Query("q"), source = params.Query("source");
                 json models = json::array(), sources = json::array();
                 for (const auto* c : ctx.models.resolver().catalogs()) {
                   sources.push_back({{"name", c->name()}, {"origin", c->origin()}, {"models", c->models().size()}});
                   if (!source.empty() && source != c->name()) continue;
                   for (const auto* m : c->Search(q)) models.push_back(m->ToJson(c->name()));
                 }
                 respond(Json(http::status::ok, {{"models", models}, {"sources", sources}}));
               }});
  return r;
}

}  // namespace modeld::api::generic
