#include "api/generic/routes.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "api/common/job_wait.h"
#include "api/common/progress.h"
#include "api/generic/wire.h"
#include "core/json.h"
#include "core/metrics.h"

namespace modeld::api::generic {

namespace {

using nlohmann::json;
using service::JobState;

Response Json(http::status status, const json& j) { return JsonResponse(status, DumpJson(j)); }

// The answer to POST /model-download?wait=true once the job has ended: the completed
// shape, or the failure as an error.
Response EndedAnswer(const Result<service::Job>& job) {
  if (!job.has_value()) return ErrorFor(job.error());
  if (job->last.state == JobState::kCompleted && job->result)
    return Json(http::status::ok, CompletedJson(*job));
  if (job->last.state == JobState::kCancelled) {
    return ErrorResponse(http::status::internal_server_error, "Download failed: cancelled by user");
  }
  Status s = job->last.status.ok() ? Status::Internal("the download ended without a result")
                                   : job->last.status;
  // The request itself was valid (it was checked up front): what the download met (a
  // refused archive entry, say) is the server's 500 with its cause.
  http::status code = s.code() == Status::Code::kInvalidArgument
                          ? http::status::internal_server_error
                          : HttpStatusFor(s);
  return ErrorResponse(
      code, s.code() == Status::Code::kNoSpace ? s.message() : "Download failed: " + s.message());
}

json SettingsJson(Context& ctx) {
  return {{"max_rate", ctx.models.max_rate()},
          {"max_connections_per_host", ctx.models.max_connections_per_host()},
          {"max_concurrent", ctx.jobs.max_concurrent()}};
}

constexpr const char* kLimitsSchema = R"({
  "type": "object", "required": ["max_rate"],
  "properties": {"max_rate": {"type": "integer", "minimum": 0, "maximum": 1000000000000,
                              "description": "Bytes a second; 0: no limit"}}})";
constexpr const char* kSettingsSchema = R"({
  "type": "object",
  "properties": {
    "max_rate": {"type": "integer", "minimum": 0, "maximum": 1000000000000,
                 "description": "Bytes a second over all downloads; 0: no limit"},
    "max_connections_per_host": {"type": "integer", "minimum": 1, "maximum": 256}}})";

// SSE framing: "event: NAME" and one "data:" line of JSON.
std::string Sse(const std::string& name, const json& data) {
  return "event: " + name + "\ndata: " + DumpJson(data) + "\n\n";
}

}  // namespace

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
               "Liveness check: {\"status\": \"ok\"} (no token needed)",
               [](const Request&, const Params&, Responder respond) {
                 respond(Json(http::status::ok, {{"status", "ok"}}));
               },
               nullptr, StreamKind::kSse, Lane::kInline, /*public_path=*/true});
  // The data dir too, so `modeld pull` hands work only to a server using its own store.
  r.push_back({http::verb::get, "/version",
               "modeld's version, git commit, build date and data directory",
               [&ctx](const Request&, const Params&, Responder respond) {
                 std::error_code ec;
                 auto dir = std::filesystem::absolute(ctx.models.data_dir(), ec);
                 respond(Json(http::status::ok,
                              {{"version", ctx.version},
                               {"commit", ctx.commit},
                               {"build_date", ctx.build_date},
                               {"name", "modeld"},
                               {"data_dir", (ec ? ctx.models.data_dir() : dir).string()}}));
               }});
  // Built at start-up (api/openapi.h): the routes of the listener asked, or of one dialect.
  r.push_back({http::verb::get, "/openapi.json",
               "This OpenAPI 3.1 description: the routes of the listener asked (?dialect= for "
               "one dialect's)",
               [&ctx](const Request&, const Params& p, Responder respond) {
                 if (!ctx.openapi) {
                   return respond(ErrorResponse(http::status::not_found,
                                                "No OpenAPI description on this server"));
                 }
                 auto doc = ctx.openapi->Find(p.listener_dialects, p.Query("dialect"));
                 if (!doc.has_value()) {
                   return respond(ErrorResponse(http::status::not_found, doc.error().message()));
                 }
                 respond(JsonResponse(http::status::ok, **doc));
               }});
  r.back().query = {{"dialect", "Only this dialect's routes (generic, pieces, ...)"}};
  // Resolves the model up front (network), so an unknown model is a 404, a gated one a
  // 403 and a full disk a 413 before anything is queued.
  r.push_back({http::verb::post, "/model-download",
               "Start (or join) a download of a model; ?wait=true answers when it ends",
               [&ctx](const Request& req, const Params& params, Responder respond) {
                 std::string wait = params.Query("wait");
                 auto dl = ParseDownloadRequest(req.body(), wait == "true" || wait == "1");
                 if (!dl.has_value()) return respond(ErrorFor(dl.error()));
                 auto submitted = ctx.jobs.Submit(std::move(dl->pull), dl->priority);
                 if (!submitted.has_value()) return respond(ErrorFor(submitted.error()));
                 if (!dl->wait) return respond(Json(http::status::ok, StartedJson(*submitted)));
                 WhenJobEnds(ctx.jobs, submitted->job.id,
                             [respond](Result<service::Job> job) { respond(EndedAnswer(job)); });
               },
               nullptr, StreamKind::kSse, Lane::kNetwork});
  r.back().query = {{"wait", "true: answer when the download ends (as \"wait\": true)"}};
  r.back().body_schema = kDownloadRequestSchema;
  r.push_back({http::verb::get, "/model-download", "Every download job and its progress",
               [&ctx](const Request&, const Params&, Responder respond) {
                 json arr = json::array();
                 int running = 0;
                 for (const auto& job : ctx.jobs.List()) {
                   arr.push_back(ProgressJson(job));
                   running += service::IsActive(job.last.state);
                 }
                 respond(Json(http::status::ok, {{"downloads", arr},
                                                 {"max_concurrent", ctx.jobs.max_concurrent()},
                                                 {"running", running}}));
               }});
  r.push_back({http::verb::get, "/model-download/:id/progress", "One download's state and progress",
               [&ctx](const Request&, const Params& p, Responder respond) {
                 auto job = ctx.jobs.Get(p.Path("id"));
                 if (!job.has_value()) return respond(ErrorFor(job.error()));
                 respond(Json(http::status::ok, ProgressJson(*job)));
               }});
  for (const char* action : {"cancel", "pause", "resume", "retry"}) {
    std::string act = action;
    r.push_back({http::verb::post, "/model-download/:id/" + act,
                 act == "cancel"   ? "Cancel a download (its partial files removed)"
                 : act == "pause"  ? "Pause a download (resume keeps the bytes fetched)"
                 : act == "resume" ? "Resume a paused download"
                                   : "Retry a failed or cancelled download, as it was asked",
                 [&ctx, act](const Request&, const Params& p, Responder respond) {
                   const std::string& id = p.Path("id");
                   Status s = act == "cancel"   ? ctx.jobs.Cancel(id)
                              : act == "pause"  ? ctx.jobs.Pause(id)
                              : act == "resume" ? ctx.jobs.Resume(id)
                                                : ctx.jobs.Retry(id);
                   if (!s.ok()) return respond(ErrorFor(s));
                   auto job = ctx.jobs.Get(id);
                   if (!job.has_value()) return respond(ErrorFor(job.error()));
                   json j = ProgressJson(*job);
                   j["requested"] = act;
                   respond(Json(http::status::ok, j));
                 },
                 nullptr, StreamKind::kSse, Lane::kStore});
  }
  // A job's own rate limit, live: {"max_rate": bytes a second, 0 for none}.
  r.push_back({http::verb::patch, "/model-download/:id",
               "Change a download's rate limit (max_rate, bytes a second; 0: none), at once",
               [&ctx](const Request& req, const Params& p, Responder respond) {
                 auto asked = ParseLimitsRequest(req.body(), /*settings=*/false);
                 if (!asked.has_value()) return respond(ErrorFor(asked.error()));
                 const std::string& id = p.Path("id");
                 if (Status s = ctx.jobs.SetMaxRate(id, *asked->max_rate); !s.ok())
                   return respond(ErrorFor(s));
                 auto job = ctx.jobs.Get(id);
                 if (!job.has_value()) return respond(ErrorFor(job.error()));
                 respond(Json(http::status::ok, ProgressJson(*job)));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.back().body_schema = kLimitsSchema;
  // The server's download limits, live: GET reads them, PATCH changes what it names.
  r.push_back({http::verb::get, "/settings",
               "The server's download limits: max_rate (0: none), max_connections_per_host, "
               "max_concurrent",
               [&ctx](const Request&, const Params&, Responder respond) {
                 respond(Json(http::status::ok, SettingsJson(ctx)));
               }});
  r.push_back({http::verb::patch, "/settings",
               "Change the download limits (max_rate, max_connections_per_host), at once",
               [&ctx](const Request& req, const Params&, Responder respond) {
                 auto asked = ParseLimitsRequest(req.body(), /*settings=*/true);
                 if (!asked.has_value()) return respond(ErrorFor(asked.error()));
                 if (asked->max_rate) ctx.models.SetMaxRate(*asked->max_rate);
                 if (asked->max_connections_per_host) {
                   ctx.models.SetMaxConnectionsPerHost(*asked->max_connections_per_host);
                 }
                 respond(Json(http::status::ok, SettingsJson(ctx)));
               }});
  r.back().body_schema = kSettingsSchema;
  // Forgets a job: a running one is cancelled first (its partial download removed).
  r.push_back({http::verb::delete_, "/model-download/:id",
               "Forget a download job (cancelling it first if it runs)",
               [&ctx](const Request&, const Params& p, Responder respond) {
                 const std::string& id = p.Path("id");
                 if (Status s = ctx.jobs.Remove(id); !s.ok()) return respond(ErrorFor(s));
                 respond(Json(http::status::ok, {{"status", "removed"}, {"download_id", id}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // Live progress of one download as Server-Sent Events: "state" on each state change
  // (never dropped), "progress" about ten times a second (coalesced for slow readers),
  // and "done" last, after which the stream ends.
  r.push_back({http::verb::get, "/model-download/:id/events",
               "One download's live progress as Server-Sent Events (state, progress, notice, done)",
               nullptr, [&ctx](const Request&, const Params& p, StreamReply& reply) {
                 std::string id = p.Path("id");
                 auto job = ctx.jobs.Get(id);
                 if (!job.has_value()) return reply.Reject(ErrorFor(job.error()));
                 auto stream = reply.Start();
                 bool first = true;
                 Status s =
                     FollowJob(ctx.jobs, id, stream,
                               [first](EventStream& out, const service::JobEvent& ev) mutable {
                                 if (ev.notice()) {  // never coalesced; the job goes on
                                   out.Send("", Sse("notice", EventJson(ev)));
                                   return true;
                                 }
                                 bool change = ev.state_change || first;
                                 first = false;
                                 if (ev.terminal()) {
                                   out.Send("", Sse("done", EventJson(ev)));
                                   return false;
                                 }
                                 out.Send(change ? "" : "progress",
                                          Sse(change ? "state" : "progress", EventJson(ev)));
                                 return true;
                               });
                 if (!s.ok()) stream->Close();
               }});
  // Every job's state changes and progress on one WebSocket: a JSON object per message,
  // with "type" snapshot (each job, first), state, progress or done.
  r.push_back({http::verb::get, "/ws", "Every download's state changes and progress on a WebSocket",
               nullptr,
               [&ctx](const Request&, const Params&, StreamReply& reply) {
                 auto stream = reply.Start();
                 FollowAllJobs(
                     ctx.jobs, stream,
                     [](EventStream& out, const service::JobEvent& ev) {
                       if (ev.removed) {  // forgotten (DELETE): a listing drops its row
                         out.Send("", DumpJson(json{{"type", "removed"},
                                                    {"download_id", ev.job_id},
                                                    {"model_name", ev.model.name},
                                                    {"version", ev.model.version}}));
                         return;
                       }
                       json j = EventJson(ev);
                       j["type"] = ev.terminal()     ? "done"
                                   : ev.notice()     ? "notice"
                                   : ev.state_change ? "state"
                                                     : "progress";
                       bool keep = ev.terminal() || ev.state_change || ev.notice();
                       out.Send(keep ? "" : ev.job_id, DumpJson(j));
                     },
                     /*removals=*/true);
                 for (const auto& job : ctx.jobs.List()) {
                   json j = EventJson(job.last);
                   j["type"] = "snapshot";
                   stream->Send("", DumpJson(j));
                 }
               },
               StreamKind::kWebSocket});
  r.push_back({http::verb::get, "/models", "Installed models and the versions still downloading",
               [&ctx](const Request&, const Params&, Responder respond) {
                 auto view = ctx.jobs.Models();
                 if (!view.has_value()) return respond(ErrorFor(view.error()));
                 json arr = json::array();
                 for (const auto& m : view->installed) arr.push_back(ModelJson(m));
                 // Versions still downloading are models too. The seed's monitor script
                 // counts status "loading" as an active download, so that is the word here;
                 // download_state says precisely where it is.
                 for (const auto& job : view->downloads) {
                   if (job.last.state == JobState::kPaused) continue;
                   uint64_t size = job.last.bytes_total.value_or(0);
                   arr.push_back({{"name", job.request.ref.name},
                                  {"version", job.request.ref.version},
                                  {"ref", job.request.ref.ToString()},
                                  {"status", "loading"},
                                  {"download_state", service::JobStateName(job.last.state)},
                                  {"download_id", job.id},
                                  {"size", size},
                                  {"size_mb", MegaBytes(size)}});
                 }
                 respond(Json(http::status::ok, {{"models", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // The loaded models (Ollama's ps). Not under /models/, where any name is a model's.
  r.push_back({http::verb::get, "/loaded", "The models held in memory and the memory budget",
               [&ctx](const Request&, const Params&, Responder respond) {
                 json arr = json::array();
                 uint64_t bytes = 0;
                 for (const auto& l : ctx.models.Loaded()) {
                   arr.push_back(l.ToJson());
                   bytes += l.state.bytes;
                 }
                 respond(
                     Json(http::status::ok, {{"models", arr},
                                             {"loaded_bytes", bytes},
                                             {"max_loaded_bytes", ctx.models.max_loaded_bytes()}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // POST /models/{name}/load and /models/{name}/unload. A name may hold slashes
  // ("org/name"), so the action is the path's last segment. Load blocks while the pages are
  // read: the network lane, whose threads may wait.
  r.push_back({http::verb::post, "/models/*name",
               "Load (NAME/load) or unload (NAME/unload) a model in memory",
               [&ctx](const Request& req, const Params& p, Responder respond) {
                 const std::string& path = p.Path("name");
                 size_t slash = path.rfind('/');
                 std::string action = slash == std::string::npos ? "" : path.substr(slash + 1);
                 std::string name = slash == std::string::npos ? path : path.substr(0, slash);
                 if (action != "load" && action != "unload") {
                   return respond(ErrorResponse(http::status::not_found,
                                                "Not found: POST /models/{name}/load or /unload"));
                 }
                 auto asked = ParseLoadRequest(name, req.body(), p.Query("version"));
                 if (!asked.has_value()) return respond(ErrorFor(asked.error()));
                 if (action == "unload") {
                   bool was = ctx.models.Unload(asked->ref);
                   return respond(Json(http::status::ok, {{"status", "unloaded"},
                                                          {"name", asked->ref.name},
                                                          {"version", asked->ref.version},
                                                          {"ref", asked->ref.ToString()},
                                                          {"was_loaded", was}}));
                 }
                 auto loaded = ctx.models.Load(asked->ref, asked->options);
                 if (!loaded.has_value()) return respond(ErrorFor(loaded.error()));
                 respond(Json(http::status::ok, LoadedJson(*loaded)));
               },
               nullptr, StreamKind::kSse, Lane::kNetwork});
  r.back().query = {{"version", "The version (default latest; the body's wins)"}};
  r.back().body_schema = kLoadRequestSchema;
  r.push_back({http::verb::get, "/models/*name", "A model's installed versions",
               [&ctx](const Request&, const Params& p, Responder respond) {
                 const std::string& name = p.Path("name");
                 auto versions = ctx.models.Versions(name);
                 if (!versions.has_value()) return respond(ErrorFor(versions.error()));
                 if (versions->empty()) {
                   return respond(
                       ErrorResponse(http::status::not_found, "Model '" + name + "' not found"));
                 }
                 json arr = json::array();
                 for (const auto& m : *versions) arr.push_back(ModelJson(m));
                 respond(Json(http::status::ok, {{"name", name}, {"versions", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.push_back({http::verb::delete_, "/models/*name", "Remove a model (every version, or ?version=)",
               [&ctx](const Request&, const Params& p, Responder respond) {
                 auto removed = ctx.models.Remove(p.Path("name"), p.Query("version"));
                 if (!removed.has_value()) return respond(ErrorFor(removed.error()));
                 json arr = json::array();
                 for (const auto& ref : removed->removed) arr.push_back(ref.ToString());
                 respond(Json(http::status::ok, {{"status", "removed"}, {"removed", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.back().query = {{"version", "Only this version"}};
  r.push_back({http::verb::get, "/cache", "Disk use of the store and the Hugging Face cache",
               [&ctx](const Request&, const Params&, Responder respond) {
                 auto rep = ctx.models.Cache();
                 if (!rep.has_value()) return respond(ErrorFor(rep.error()));
                 json j = rep->ToJson();
                 j["total_size_mb"] = MegaBytes(rep->blob_bytes);
                 respond(Json(http::status::ok, j));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // gc on the running server: {"partials_older_than_hours", "dry_run", "hf_cache"}, as the
  // CLI's options; the partials this server's jobs will resume are never removed.
  r.push_back({http::verb::post, "/gc",
               "Delete files no model uses and stale partial downloads (dry_run says what)",
               [&ctx](const Request& req, const Params&, Responder respond) {
                 auto asked = ParseGcRequest(req.body());
                 if (!asked.has_value()) return respond(ErrorFor(asked.error()));
                 asked->options.keep_partials_of = ctx.jobs.PartialsKept();
                 auto rep = ctx.models.Gc(asked->partial_age, asked->options);
                 if (!rep.has_value()) return respond(ErrorFor(rep.error()));
                 respond(Json(http::status::ok, rep->ToJson()));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // What can be pulled by name: every catalog's models, ?q= to search, ?source= for one.
  r.push_back(
      {http::verb::get, "/catalog",
       "Models that can be pulled by name (?q= to search, ?source= for one catalog)",
       [&ctx](const Request&, const Params& params, Responder respond) {
         auto found = ctx.models.Search(params.Query("q"), params.Query("source"));
         json models = json::array(), sources = json::array();
         for (const auto& s : found.sources) {
           sources.push_back({{"name", s.name}, {"origin", s.origin}, {"models", s.models}});
         }
         for (const auto& m : found.models) models.push_back(m.json);
         respond(Json(http::status::ok, {{"models", models}, {"sources", sources}}));
       }});
  r.back().query = {{"q", "Words to search for"}, {"source", "Only this catalog"}};
  // Prometheus's text format (docs/metrics.md): the process's registry, whose collectors
  // query the registry (SQLite) at each scrape.
  r.push_back({http::verb::get, "/metrics", "Prometheus metrics (text format 0.0.4)",
               [](const Request&, const Params&, Responder respond) {
                 Response res{http::status::ok, 11};
                 res.set(http::field::content_type, metrics::kContentType);
                 res.body() = metrics::DefaultRegistry().Expose();
                 respond(std::move(res));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  return r;
}

}  // namespace modeld::api::generic
